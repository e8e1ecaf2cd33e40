"""The server topology: K daphne or uvicorn processes, and resource sampling of processes.

With `--listen reuseport` the harness opens K listening sockets on one port with SO_REUSEPORT
and hands one to each server (`daphne --fd N`, `uvicorn --fd N`): the kernel spreads new
connections over the processes, as nginx or a load balancer would. Daphne's own endpoint
strings cannot ask Twisted for SO_REUSEPORT, hence the adopted descriptors. `--listen ports`
gives each server its own port instead and the clients round-robin over them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

import psutil

from tests.load.harness.dataset import server_environment
from tests.load.harness.options import REPO_ROOT, Options
from tests.load.harness.stats import cpu_percent

HOST = "127.0.0.1"
LISTEN_BACKLOG = 4096


@dataclass
class ServerProcess:
    index: int
    port: int
    process: subprocess.Popen[bytes]
    log: IO[bytes]


@dataclass
class Topology:
    """Running servers (or, with --no-servers, only the URLs to load)."""

    urls: list[str]
    servers: list[ServerProcess] = field(default_factory=list)

    @property
    def pids(self) -> list[int]:
        return [server.process.pid for server in self.servers]

    def connections_per_server(self) -> dict[str, int]:
        """Established client sockets each server holds (shows how SO_REUSEPORT spread them)."""
        counts: dict[str, int] = {}
        for server in self.servers:
            try:
                sockets = psutil.Process(server.process.pid).net_connections(kind="tcp")
            except psutil.Error:
                continue
            counts[f"server-{server.index}"] = sum(
                1
                for conn in sockets
                if conn.status == psutil.CONN_ESTABLISHED and conn.laddr.port == server.port
            )
        return counts

    def stop(self) -> None:
        """Terminate every server this harness started (SIGTERM, then SIGKILL after 10 s)."""
        for server in self.servers:
            if server.process.poll() is None:
                server.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for server in self.servers:
            remaining = max(0.1, deadline - time.monotonic())
            try:
                server.process.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait()
            server.log.close()
        self.servers.clear()


def flush_redis(redis_url: str) -> None:
    """Empty the harness's Redis database: no channel-layer groups or presence left over."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        client.flushdb()
    finally:
        client.close()


def _listening_socket(port: int, *, reuse_port: bool) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((HOST, port))
    sock.listen(LISTEN_BACKLOG)
    sock.set_inheritable(True)
    return sock


def _server_command(options: Options, fd: int) -> list[str]:
    bin_dir = Path(sys.executable).parent
    if options.server == "relay":
        relay = [sys.executable, "-m", "tests.load.relay", "--fd", str(fd)]
        return [*relay, "--database-url", options.database_url]
    if options.server == "uvicorn":
        return [
            sys.executable,
            "-m",
            "tests.load.harness.uvicorn_tcp",  # uvicorn, with the descriptor adopted as TCP
            "config.asgi:application",
            "--fd",
            str(fd),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--ws",
            "websockets-sansio",
            "--ws-per-message-deflate",
            "false",
            "--no-access-log",
            "--log-level",
            "warning",
            "--lifespan",
            "off",
            *options.server_args,
        ]
    return [
        str(bin_dir / "daphne"),
        "--fd",
        str(fd),
        "-v",
        "0",
        "--ping-interval",
        "20",
        "--ping-timeout",
        "60",
        *options.server_args,
        "config.asgi:application",
    ]


def _spawn(
    options: Options,
    index: int,
    port: int,
    sock: socket.socket,
    *,
    log_mode: Literal["wb", "ab"] = "wb",
) -> ServerProcess:
    env = {**os.environ, **server_environment(options), **options.server_env}
    log = (options.run_dir / f"server-{index}.log").open(log_mode)
    process = subprocess.Popen(
        _server_command(options, sock.fileno()),
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        pass_fds=(sock.fileno(),),
    )
    return ServerProcess(index, port, process, log)


def start(options: Options) -> Topology:
    """Start the servers and wait until every one answers /healthz."""
    if not options.start_servers:  # --url: one or more, comma-separated; users round-robin
        bases = [base.rstrip("/") for base in options.url.split(",") if base]
        return Topology(
            urls=[
                base.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + "/ws/"
                for base in bases
            ]
        )
    flush_redis(options.redis_url)
    reuse_port = options.listen == "reuseport"
    ports = [options.port if reuse_port else options.port + i for i in range(options.servers)]
    topology = Topology(urls=[])
    sockets = [_listening_socket(port, reuse_port=reuse_port) for port in ports]
    try:
        for index, (port, sock) in enumerate(zip(ports, sockets, strict=True)):
            topology.servers.append(_spawn(options, index, port, sock))
    except BaseException:
        topology.stop()
        raise
    finally:
        # The children hold their own copies; a dead server's socket must really close.
        for sock in sockets:
            sock.close()
    topology.urls = [f"ws://{HOST}:{port}/ws/" for port in sorted(set(ports))]
    try:
        _wait_healthy(topology, sorted(set(ports)))
    except BaseException:
        topology.stop()
        raise
    return topology


def respawn(options: Options, topology: Topology, index: int) -> ServerProcess:
    """Start server `index` again on its port after it died (what systemd's Restart= does)."""
    dead = topology.servers[index]
    dead.log.close()
    sock = _listening_socket(dead.port, reuse_port=options.listen == "reuseport")
    try:
        server = _spawn(options, index, dead.port, sock, log_mode="ab")
    finally:
        sock.close()
    topology.servers[index] = server
    return server


def _wait_healthy(topology: Topology, ports: list[int], timeout: float = 60.0) -> None:
    """Every port answers; with a shared port, enough consecutive answers to cover each server."""
    needed = 1 if len(ports) == len(topology.servers) else 4 * len(topology.servers)
    deadline = time.monotonic() + timeout
    for port in ports:
        successes = 0
        while successes < needed:
            for server in topology.servers:
                if server.process.poll() is not None:
                    raise SystemExit(
                        f"server {server.index} exited with {server.process.returncode}; "
                        f"see {server.log.name}"
                    )
            if time.monotonic() > deadline:
                raise SystemExit(f"servers not healthy after {timeout:.0f} s")
            try:
                with urllib.request.urlopen(f"http://{HOST}:{port}/healthz", timeout=5) as response:
                    ok = response.status == 200
            except (OSError, urllib.error.URLError):
                ok = False
            if ok:
                successes += 1
            else:
                successes = 0
                time.sleep(0.2)


# --- resource sampling ---------------------------------------------------------------------------


def service_pids() -> dict[str, list[int]]:
    """PostgreSQL and Redis server processes on this machine (read-only, for CPU accounting)."""
    found: dict[str, list[int]] = {"postgres": [], "redis": []}
    for proc in psutil.process_iter(["name"]):
        name = proc.info.get("name") or ""
        if name.startswith("postgres"):
            found["postgres"].append(proc.pid)
        elif name.startswith("redis-server"):
            found["redis"].append(proc.pid)
    return found


PidSource = list[int] | Callable[[], list[int]]


def _machine_busy_seconds() -> float:
    """CPU seconds the machine spent busy (guest time is already inside user and nice)."""
    times = psutil.cpu_times()
    busy = times.user + times.nice + times.system
    for extra in ("irq", "softirq", "steal"):
        busy += getattr(times, extra, 0.0)
    return busy


# Pseudo-group: the whole machine's busy CPU, to see interference from other work on the box.
MACHINE = "machine"
# group -> pid -> (cumulative CPU seconds, RSS bytes)
Snapshot = dict[str, dict[int, tuple[float, int]]]


class ResourceSampler:
    """Samples CPU time and RSS of named process groups every `interval` seconds in a thread.

    A group is a fixed pid list or a function that finds the pids again at each sample (new
    PostgreSQL backends appear during a run). `mark(name)` records a phase boundary; `report`
    gives each group's CPU% between marks, its peak one-interval CPU% and its peak RSS.
    """

    def __init__(self, groups: dict[str, PidSource], interval: float = 1.0) -> None:
        self.groups = groups
        self.interval = interval
        self.marks: dict[str, tuple[float, Snapshot]] = {}
        self.peak_cpu: dict[str, float] = dict.fromkeys(groups, 0.0)
        self.recent_cpu: dict[str, float] = dict.fromkeys(groups, 0.0)
        self.peak_rss: dict[str, int] = dict.fromkeys(groups, 0)
        self._processes: dict[int, psutil.Process] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="resource-sampler", daemon=True)
        self._last: tuple[float, Snapshot] | None = None
        self._lock = threading.Lock()

    def _process(self, pid: int) -> psutil.Process | None:
        if pid not in self._processes:
            try:
                self._processes[pid] = psutil.Process(pid)
            except psutil.Error:
                return None
        return self._processes[pid]

    def _take(self) -> Snapshot:
        snapshot: Snapshot = {}
        for name, source in self.groups.items():
            if name == MACHINE:
                snapshot[name] = {0: (_machine_busy_seconds(), 0)}
                continue
            pids = source() if callable(source) else source
            snapshot[name] = {}
            for pid in pids:
                proc = self._process(pid)
                if proc is None:
                    continue
                with contextlib.suppress(psutil.Error), proc.oneshot():
                    times = proc.cpu_times()
                    snapshot[name][pid] = (times.user + times.system, proc.memory_info().rss)
        return snapshot

    @staticmethod
    def _cpu_delta(
        first: dict[int, tuple[float, int]], last: dict[int, tuple[float, int]]
    ) -> float:
        # A process born in between counts from zero; one that died in between is lost.
        return sum(cpu - first.get(pid, (0.0, 0))[0] for pid, (cpu, _rss) in last.items())

    def _observe(self) -> tuple[float, Snapshot]:
        with self._lock:
            now = time.monotonic()
            snapshot = self._take()
            if self._last is not None:
                wall = now - self._last[0]
                for name, pids in snapshot.items():
                    used = cpu_percent(self._cpu_delta(self._last[1][name], pids), wall)
                    self.recent_cpu[name] = used
                    self.peak_cpu[name] = max(self.peak_cpu[name], used)
            for name, pids in snapshot.items():
                rss = sum(r for _cpu, r in pids.values())
                self.peak_rss[name] = max(self.peak_rss[name], rss)
            self._last = (now, snapshot)
            return self._last

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._observe()

    def start(self) -> None:
        self._observe()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def mark(self, name: str) -> None:
        self.marks[name] = self._observe()

    def cpu_between(self, start: str, end: str) -> dict[str, float]:
        (t0, first), (t1, last) = self.marks[start], self.marks[end]
        return {
            name: cpu_percent(self._cpu_delta(first[name], last[name]), t1 - t0)
            for name in self.groups
        }

    def core_seconds_between(self, start: str, end: str) -> dict[str, float]:
        """CPU time each group used between two marks, in core-seconds."""
        (_t0, first), (_t1, last) = self.marks[start], self.marks[end]
        return {name: self._cpu_delta(first[name], last[name]) for name in self.groups}

    def report(self, phases: list[tuple[str, str, str]]) -> dict[str, dict[str, float]]:
        """Per group: CPU% per phase (label, start mark, end mark), peak CPU%, peak RSS."""
        per_phase = {
            label: self.cpu_between(start, end)
            for label, start, end in phases
            if start in self.marks and end in self.marks
        }
        return {
            name: {
                **{f"cpu_pct_{label}": values[name] for label, values in per_phase.items()},
                "cpu_pct_peak_1s": self.peak_cpu[name],
                **(
                    {}
                    if name == MACHINE
                    else {"rss_mib_peak": round(self.peak_rss[name] / 2**20, 1)}
                ),
            }
            for name in self.groups
        }

    def wait_quiet(self, names: list[str], *, below: float, timeout: float) -> float:
        """Wait until each group in `names` used less than `below` CPU% for two intervals."""
        started = time.monotonic()
        quiet = 0
        while time.monotonic() - started < timeout and quiet < 2:
            time.sleep(self.interval)
            with self._lock:
                calm = all(self.recent_cpu[name] < below for name in names)
            quiet = quiet + 1 if calm else 0
        return time.monotonic() - started
