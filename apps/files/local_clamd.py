"""A clamd of its own for the embedded mode (`make run`): uploads get scanned on a laptop too.

`LocalClamd` runs Debian's /usr/sbin/clamd in the foreground with a configuration written under
var/clamd/ and a unix socket there. Its database directory links the system's signatures (the
files freshclam keeps in /var/lib/clamav, when there are any) and holds the project's own
signatures (the EICAR test file, in tests/files/signatures), so scanning is real where the
machine has signatures and still demonstrable where it has none. Nothing is downloaded.

`run_with_local_clamd` starts it, runs a command (daphne) pointed at it through
ENCLAVE_CLAMD_ADDRESS, and stops it when the command ends. If clamd cannot start, the command
runs anyway and scanning fails closed: every upload ends `failed`, never `clean`.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import TextIO

from apps.files.clamd import CLAMD_REQUIRED_SETTINGS

CLAMD = "/usr/sbin/clamd"
SYSTEM_DATABASE = Path("/var/lib/clamav")
SHIPPED_SIGNATURES = Path(__file__).resolve().parents[2] / "tests" / "files" / "signatures"
# What freshclam leaves in /var/lib/clamav: signed databases and their incremental forms.
DATABASE_SUFFIXES = (".cvd", ".cld", ".cud")
ADDRESS_VARIABLE = "ENCLAVE_CLAMD_ADDRESS"
# Loading the official databases takes a while (and about 1 GB of memory); ours are instant.
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 15.0
# sun_path holds 108 bytes; a deeper var/ gets a socket in a temporary directory instead.
MAX_SOCKET_PATH = 100

CLAMD_CONF = """\
Foreground yes
LocalSocket {socket}
LocalSocketMode 600
DatabaseDirectory {root}/db
TemporaryDirectory {root}/tmp
PidFile {root}/clamd.pid
LogFile {root}/clamd.log
LogTime yes
StreamMaxLength {stream_max_mb}M
MaxFileSize {stream_max_mb}M
MaxScanSize {scan_max_mb}M
SelfCheck 3600
MaxThreads 4
"""


def clamd_conf(*, root: Path, socket_path: Path, stream_max_mb: int) -> str:
    """clamd.conf of the local clamd: our paths and sizes, plus what Enclave requires of any
    clamd (apps.files.clamd.CLAMD_REQUIRED_SETTINGS: exceeded limits are reported)."""
    required = "".join(f"{name} {value}\n" for name, value in CLAMD_REQUIRED_SETTINGS.items())
    return (
        CLAMD_CONF.format(
            root=root,
            socket=socket_path,
            stream_max_mb=stream_max_mb,
            scan_max_mb=max(400, 4 * stream_max_mb),
        )
        + required
    )


class LocalClamdError(Exception):
    """clamd could not be started (not installed, bad databases, no answer in time)."""


def _die_with_parent() -> Callable[[], None] | None:
    """A pre-exec hook: clamd gets SIGTERM when its parent dies (Linux), so a killed `make run`
    leaves no clamd behind. Everything is looked up here; the child makes one libc call."""
    try:
        prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig, sigterm = 1, int(signal.SIGTERM)
    return lambda: prctl(pr_set_pdeathsig, sigterm)


class LocalClamd:
    def __init__(
        self,
        root: Path,
        *,
        stream_max_bytes: int,
        clamd: str = CLAMD,
        system_database: Path = SYSTEM_DATABASE,
        shipped_signatures: Path = SHIPPED_SIGNATURES,
    ) -> None:
        self.root = root
        self.stream_max_bytes = stream_max_bytes
        self.clamd = clamd
        self.system_database = system_database
        self.shipped_signatures = shipped_signatures
        socket_path = root / "clamd.sock"
        if len(str(socket_path)) > MAX_SOCKET_PATH:
            socket_path = Path(tempfile.mkdtemp(prefix="enclave-clamd-")) / "clamd.sock"
        self.socket_path = socket_path
        self.process: subprocess.Popen[bytes] | None = None
        self.system_files: list[str] = []
        self.shipped_files: list[str] = []

    @property
    def address(self) -> str:
        return f"unix://{self.socket_path}"

    def prepare(self) -> None:
        """Write the configuration and fill the database directory (links, and our files)."""
        database = self.root / "db"
        shutil.rmtree(database, ignore_errors=True)  # signatures of an earlier run may be gone
        database.mkdir(parents=True)
        (self.root / "tmp").mkdir(exist_ok=True)
        self.system_files = []
        if self.system_database.is_dir():
            for path in sorted(self.system_database.iterdir()):
                if path.suffix in DATABASE_SUFFIXES and path.is_file():
                    (database / path.name).symlink_to(path)
                    self.system_files.append(path.name)
        self.shipped_files = []
        if self.shipped_signatures.is_dir():
            for path in sorted(self.shipped_signatures.iterdir()):
                if path.is_file():
                    shutil.copy(path, database / path.name)
                    self.shipped_files.append(path.name)
        stream_max_mb = max(1, math.ceil(self.stream_max_bytes / (1024 * 1024)))
        (self.root / "clamd.conf").write_text(
            clamd_conf(root=self.root, socket_path=self.socket_path, stream_max_mb=stream_max_mb)
        )

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        """Start clamd and wait until it answers PING; raise LocalClamdError if it does not."""
        if not Path(self.clamd).exists():
            raise LocalClamdError(f"{self.clamd} is not installed (apt-get install clamav-daemon)")
        self.prepare()
        if not self.system_files and not self.shipped_files:
            raise LocalClamdError("no signature database")
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()  # left by a clamd that was killed
        self.process = subprocess.Popen(  # noqa: S603 - fixed binary, our own configuration
            [self.clamd, "--foreground", "-c", str(self.root / "clamd.conf")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Its own session: Ctrl-C in the terminal reaches daphne, and we stop clamd after it.
            start_new_session=True,
            preexec_fn=_die_with_parent(),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                raise LocalClamdError(f"clamd exited with status {code}: {self.log_tail()}")
            if self.ping():
                return
            time.sleep(0.2)
        self.stop()
        raise LocalClamdError(f"clamd did not answer within {timeout:.0f} s")

    def ping(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(1.0)
                sock.connect(str(self.socket_path))
                sock.sendall(b"zPING\x00")
                return sock.recv(16).startswith(b"PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()

    def log_tail(self, lines: int = 3) -> str:
        try:
            text = (self.root / "clamd.log").read_text(errors="replace")
        except OSError:
            return "no log"
        return " | ".join(text.strip().splitlines()[-lines:]) or "no log"

    def signatures_description(self) -> str:
        if self.system_files:
            system = ", ".join(self.system_files)
            return f"the system signatures in {self.system_database} ({system}) + Enclave's own"
        return (
            "Enclave's test signatures only (they catch the EICAR test file, not real malware; "
            "install clamav-freshclam and run freshclam for the real ones)"
        )


NOT_REPORTING_LIMITS = (
    "does NOT report exceeded limits (its clamd.conf needs "
    + ", ".join(f"{name} {value}" for name, value in CLAMD_REQUIRED_SETTINGS.items())
    + "): no upload can become clean"
)


def _problem(address: str) -> str:
    """Why the clamd at `address` cannot pass files (the limits probe), or "" when it can."""
    from apps.files import clamd

    try:
        reports = clamd.reports_exceeded_limits(address=address, timeout=5.0)
    except clamd.ScanFailed:
        return "NOT reachable, uploads will fail closed"
    return "" if reports else NOT_REPORTING_LIMITS


def run_with_local_clamd(
    command: Sequence[str],
    *,
    var_dir: Path,
    stream_max_bytes: int,
    out: TextIO,
    environ: dict[str, str] | None = None,
    clamd_factory: Callable[..., LocalClamd] = LocalClamd,
) -> int:
    """Run `command` with a local clamd as its scanner; return the command's exit status.

    An address configured in the environment (or .env) wins: that clamd is used, not started.
    """
    env = dict(os.environ if environ is None else environ)
    local: LocalClamd | None = None
    configured = env.get(ADDRESS_VARIABLE, "")
    if configured:
        state = _problem(configured) or "active"
        out.write(f"  Virus scanning: clamd at {ADDRESS_VARIABLE}={configured} ({state}).\n")
    else:
        local = clamd_factory(var_dir / "clamd", stream_max_bytes=stream_max_bytes)
        if local.system_database.is_dir() and any(local.system_database.glob("*.c[vlu]d")):
            out.write("  Starting the virus scanner (loading signatures can take a minute)...\n")
            out.flush()
        try:
            local.start()
            problem = _problem(local.address)
            out.write(
                f"  Virus scanning: {problem or 'active'}, clamd at {local.address} with "
                f"{local.signatures_description()}.\n"
            )
        except LocalClamdError as error:
            out.write(
                f"  Virus scanning: OFF, clamd did not start ({error}). Enclave starts anyway; "
                "every upload will fail closed (status `failed`, never downloadable).\n"
            )
        # Pointed at our socket either way: with no clamd behind it, scans fail closed.
        env[ADDRESS_VARIABLE] = local.address
    out.flush()
    try:
        child = subprocess.Popen(list(command), env=env)  # noqa: S603 - the Makefile's command
    except BaseException:
        if local is not None:
            local.stop()
        raise

    def forward(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    previous = {
        signum: signal.signal(signum, forward) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        return child.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if child.poll() is None:
            child.terminate()
            child.wait()
        if local is not None:
            local.stop()
