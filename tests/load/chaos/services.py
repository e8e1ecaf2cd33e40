"""A PostgreSQL cluster and a Redis server of the run's own, so that the faults break nothing else.

The machine's PostgreSQL and Redis serve other work (the test suite, other runs): the chaos run
never stops them. It makes a cluster with Debian's `initdb` in a temporary directory (as the
`postgres` user when it runs as root: PostgreSQL refuses to run as root) and starts a
`redis-server` on a free port, both on loopback, with the durability settings of production
(fsync and synchronous commit on; Redis without persistence, as the real-time bus needs).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

POSTGRES_BIN = Path("/usr/lib/postgresql")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _postgres_bin() -> Path | None:
    versions = sorted(POSTGRES_BIN.glob("*/bin/pg_ctl"), reverse=True)
    return versions[0].parent if versions else None


def services_problem() -> str | None:
    """Why the chaos run cannot start its own services here, if it cannot."""
    if _postgres_bin() is None:
        return "needs PostgreSQL's server binaries (apt-get install postgresql)"
    if shutil.which("redis-server") is None:
        return "needs redis-server (apt-get install redis-server)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "runs as root but there is no postgres user to run the cluster as"
    return None


def _as_postgres(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class Postgres:
    """One throwaway cluster; `crash()` is `pg_ctl stop -m immediate` (no shutdown checkpoint:
    the next start runs crash recovery, as after a power cut or an OOM kill of the postmaster)."""

    def __init__(self, root: Path) -> None:
        binaries = _postgres_bin()
        if binaries is None:
            raise RuntimeError("PostgreSQL server binaries not found")
        self.bin = binaries
        self.root = root
        self.data = root / "pgdata"
        self.sockets = root / "pgsock"
        self.log = root / "postgres.log"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/enclave_chaos"

    def _run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            _as_postgres([str(self.bin / command[0]), *command[1:]]),
            check=check,
            capture_output=True,
            text=True,
        )

    def init(self) -> None:
        self.sockets.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
            os.chown(self.sockets, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# chaos run\n"
                f"port = {self.port}\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.sockets}'\n"
                "fsync = on\nsynchronous_commit = on\n"
                "max_connections = 200\nshared_buffers = 128MB\n"
            )

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def crash(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)


class Redis:
    """One throwaway redis-server; `crash()` is SIGKILL (everything in it is lost)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = (self.root / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.root),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def crash(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
            if self.process.poll() is None:
                self.process.kill()
            self.process = None


def workspace() -> Path:
    """A temporary directory the postgres user can enter (for the cluster's data)."""
    root = Path(tempfile.mkdtemp(prefix="enclave-chaos-"))
    root.chmod(0o755)
    return root
