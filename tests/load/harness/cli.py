"""Orchestration: data set, servers, generator processes, summary and audit.

Exit status: 0 when the audit passed, 1 when it found a lost, duplicated or wrong message or
delivery, 2 when the run itself could not be carried out.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import pickle
import resource
import signal
import sys
import time
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from tests.load.harness import dataset as data
from tests.load.harness import profile, servers
from tests.load.harness.analysis import analyse
from tests.load.harness.client import ClientPlan, ClientResult, run_process
from tests.load.harness.options import REPO_ROOT, Options, parse_options

START_DELAY_SECONDS = 1.0
IDLE_BASELINE_SECONDS = 10.0
# The hot-path files: their digests tie a summary to the code it measured (apps/ moves fast).
HOT_PATH_FILES = (
    "apps/chat/consumers.py",
    "apps/chat/send_batcher.py",
    "apps/chat/services/_common.py",
    "apps/chat/services/messages.py",
    "apps/chat/services/send_batch.py",
    "apps/core/events.py",
    "apps/core/websocket.py",
    "apps/accounts/websocket.py",
    "config/settings/base.py",
)


def _code_fingerprint() -> dict[str, str]:
    digests = {}
    for name in HOT_PATH_FILES:
        path = REPO_ROOT / name
        if path.exists():
            digests[name] = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return digests


def _raise_open_file_limit() -> None:
    """One descriptor per socket on both sides: lift the soft limit (inherited by children)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else 1_048_576
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _wait_for_quiet_machine(timeout: float, below_pct: float = 15.0) -> float:
    """Wait until the whole machine was under `below_pct` busy for 3 s; the last reading."""
    import psutil

    started = time.monotonic()
    calm = 0
    busy = 100.0
    while calm < 3 and time.monotonic() - started < timeout:
        busy = psutil.cpu_percent(interval=1.0)
        calm = calm + 1 if busy < below_pct else 0
    return busy


def _plans(options: Options, dataset: data.Dataset, urls: list[str]) -> list[ClientPlan]:
    rooms_of: dict[int, list[tuple[int, str]]] = {}
    peers_of: dict[int, list[int]] = {}
    # Smallest rooms first: a client shows its DM partners and team before a big channel.
    for room in sorted(dataset.rooms.values(), key=lambda r: len(r.member_ids)):
        for uid in room.member_ids:
            rooms_of.setdefault(uid, []).append((room.id, room.kind))
            peers = peers_of.setdefault(uid, [])
            if len(peers) < options.watch:
                peers.extend(m for m in room.member_ids if m != uid and m not in peers)
                del peers[options.watch :]
    plans = []
    for index in range(options.clients):
        owned = [
            (uid, token, urls[position % len(urls)])
            for position, (uid, token) in enumerate(dataset.users)
            if position % options.clients == index
        ]
        plans.append(
            ClientPlan(
                index=index,
                clients=options.clients,
                users=owned,
                user_rooms={uid: rooms_of.get(uid, []) for uid, _t, _u in owned},
                watch={uid: peers_of.get(uid, []) for uid, _t, _u in owned},
                mix_weights=options.mix_weights if options.mix else None,
                ramp=options.ramp / options.clients,
                rate=options.rate,
                duration=options.duration,
                body_size=options.body_size,
                connect_timeout=options.connect_timeout,
                connect_retries=options.connect_retries,
                ack_timeout=options.ack_timeout,
                grace=options.grace,
                drain_timeout=options.drain_timeout,
                seed=options.seed,
                result_path=str(options.run_dir / f"client-{index}.pickle"),
                client_kind=options.client_kind,
                server_name=options.server_name,
                tls_insecure=options.tls_insecure,
            )
        )
    return plans


class Clients:
    """The generator processes and their control pipes."""

    def __init__(self, plans: list[ClientPlan]) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes: list[BaseProcess] = []
        for plan in plans:
            parent_end, child_end = context.Pipe()
            process = context.Process(
                target=run_process, args=(plan, child_end), name=f"load-client-{plan.index}"
            )
            process.start()
            child_end.close()
            self.pipes.append(parent_end)
            self.processes.append(process)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p.pid is not None]

    def gather(self, expected: str, timeout: float) -> list[tuple[Any, ...]]:
        """Wait for message `expected` from every process."""
        replies: list[tuple[Any, ...]] = []
        deadline = time.monotonic() + timeout
        for pipe, process in zip(self.pipes, self.processes, strict=True):
            while not pipe.poll(0.2):
                if not process.is_alive():
                    raise SystemExit(f"{process.name} died (exit code {process.exitcode})")
                if time.monotonic() > deadline:
                    raise SystemExit(f"{process.name}: no {expected!r} within {timeout:.0f} s")
            reply = pipe.recv()
            if reply[0] != expected:
                raise SystemExit(f"{process.name}: expected {expected!r}, got {reply[0]!r}")
            replies.append(reply)
        return replies

    def broadcast(self, *message: Any) -> None:
        for pipe in self.pipes:
            pipe.send(message)

    def terminate(self) -> None:
        for process in self.processes:
            if process.is_alive():
                process.terminate()
        for process in self.processes:
            process.join(timeout=10)


def _wait_quiet_counters(
    counters: Mapping[str, Callable[[], float]], *, below: float, timeout: float
) -> float:
    """Wait until each counter (core-seconds) grew by less than `below`% of a core a second
    for two seconds running; the seconds waited."""
    started = time.monotonic()
    quiet = 0
    last = {name: read() for name, read in counters.items()}
    while time.monotonic() - started < timeout and quiet < 2:
        time.sleep(1.0)
        now = {name: read() for name, read in counters.items()}
        calm = all(100 * (now[name] - last[name]) < below for name in counters)
        quiet = quiet + 1 if calm else 0
        last = now
    return time.monotonic() - started


def _resource_groups(topology: servers.Topology, clients: Clients) -> dict[str, servers.PidSource]:
    groups: dict[str, servers.PidSource] = {
        f"server-{s.index}": [s.process.pid] for s in topology.servers
    }
    groups["postgres"] = lambda: servers.service_pids()["postgres"]
    groups["redis"] = lambda: servers.service_pids()["redis"]
    groups["generator"] = clients.pids
    groups[servers.MACHINE] = []
    return groups


def run(
    options: Options, *, counters: Mapping[str, Callable[[], float]] | None = None
) -> tuple[dict[str, Any], int]:
    """One run. `counters` (name -> cumulative core-seconds, e.g. a cgroup's cpu.stat) stand for
    servers this process did not start, on other hosts: after the ramp the run waits (--settle)
    until each is quiet and measures them idle (summary["counters_cores_idle"]), and their
    growth over the send phase goes to summary["counters_core_seconds_send"]."""
    counters = counters or {}
    counted: dict[str, dict[str, float]] = {}
    _raise_open_file_limit()
    dataset = data.prepare(options)
    summary: dict[str, Any] = {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "code": _code_fingerprint(),
        "scenario": options.scenario(),
        "topology": {
            "cores": os.cpu_count(),
            "server": options.server if options.start_servers else options.url,
            "servers": options.servers if options.start_servers else None,
            "listen": options.listen if options.start_servers else None,
            "generator_processes": options.clients,
            "generator_client": options.client_kind,
        },
        "data": {
            "users": len(dataset.users),
            "rooms": len(dataset.rooms),
            "memberships": sum(len(r.member_ids) for r in dataset.rooms.values()),
            "reused": dataset.reused,
            "prepare_s": round(dataset.prepare_seconds, 1),
        },
    }
    summary["postgres_settings"] = data.postgres_settings(options)
    if options.wait_quiet > 0:
        waited = time.monotonic()
        busy = _wait_for_quiet_machine(options.wait_quiet)
        summary["machine_busy_pct_before_start"] = round(busy, 1)
        summary["waited_for_quiet_s"] = round(time.monotonic() - waited, 1)
    topology = servers.start(options)
    clients: Clients | None = None
    sampler: servers.ResourceSampler | None = None
    spy: profile.DelayedRecording | None = None
    try:
        clients = Clients(_plans(options, dataset, topology.urls))
        sampler = servers.ResourceSampler(_resource_groups(topology, clients))
        sampler.start()
        sampler.mark("begin")
        ramp_started = time.monotonic()
        attempts = options.connect_retries + 1
        ramp_budget = len(dataset.users) / options.ramp + attempts * (options.connect_timeout + 30)
        clients.gather("connected", ramp_budget)
        summary["data"]["ramp_s"] = round(time.monotonic() - ramp_started, 1)
        sampler.mark("connected")
        summary["topology"]["sockets_per_server"] = topology.connections_per_server()
        if topology.servers and options.settle > 0:
            # Connecting sets off presence fan-out that outlasts the ramp: let it finish, so
            # the send phase measures messaging, not the tail of the connection storm.
            names = [f"server-{s.index}" for s in topology.servers]
            settled = sampler.wait_quiet(names, below=options.settle_cpu, timeout=options.settle)
            summary["data"]["settle_s"] = round(settled, 1)
        if counters and options.settle > 0:
            # The same for servers on other hosts (their counters), then an idle baseline of
            # theirs: what the hosts spend with every socket open and nothing sent.
            settled = _wait_quiet_counters(
                counters, below=options.settle_cpu, timeout=options.settle
            )
            summary["data"]["settle_s"] = round(settled, 1)
            idle_start = {name: read() for name, read in counters.items()}
            time.sleep(IDLE_BASELINE_SECONDS)
            summary["counters_cores_idle"] = {
                name: round((read() - idle_start[name]) / IDLE_BASELINE_SECONDS, 3)
                for name, read in counters.items()
            }

        seq_before = data.channel_seq_snapshot(list(dataset.rooms))
        t_start = time.time() + START_DELAY_SECONDS
        clients.broadcast("start", t_start)
        if options.profile_seconds > 0 and topology.servers:
            # Start once the send phase is under way, so the profile shows steady state.
            spy = profile.DelayedRecording(
                topology.servers[0].process.pid,
                options.profile_seconds,
                options.run_dir / "profile-server-0.txt",
                delay=START_DELAY_SECONDS + min(5.0, options.duration / 4),
                gil_only=options.profile_gil,
            )
            spy.start()
        time.sleep(max(0.0, t_start - time.time()))
        sampler.mark("send_start")
        counted["send_start"] = {name: read() for name, read in counters.items()}
        time.sleep(max(0.0, t_start + options.duration - time.time()))
        sampler.mark("send_end")
        counted["send_end"] = {name: read() for name, read in counters.items()}
        clients.gather("sent", options.ack_timeout + options.drain_timeout + 60)
        sampler.mark("drained")
        clients.broadcast("stop")
        replies = clients.gather("done", 120)
        sampler.stop()
        if spy is not None:
            summary["profile"] = spy.wait()
        results: list[ClientResult] = []
        for reply in replies:
            with open(reply[1], "rb") as file:
                results.append(pickle.load(file))  # noqa: S301 - our own child's output
    finally:
        if spy is not None:
            spy.cancel()
        if sampler is not None:
            sampler.stop()
        if clients is not None:
            clients.terminate()
        topology.stop()

    resources = sampler.report(
        [("connect", "begin", "connected"), ("send", "send_start", "send_end")]
    )
    generator_cpu = {
        f"client-{r.index}": {
            phase: round(100 * r.cpu_seconds[phase] / max(1e-9, r.wall_seconds[phase]), 1)
            for phase in r.cpu_seconds
        }
        for r in results
    }
    report, failures = analyse(
        results=results,
        dataset=dataset,
        seq_before=seq_before,
        rate=options.rate,
        duration=options.duration,
        relay=options.start_servers and options.server == "relay",
    )
    summary.update(report)
    known = sum(
        values.get("cpu_pct_send", 0.0)
        for name, values in resources.items()
        if name != servers.MACHINE
    )
    machine_send = resources[servers.MACHINE].get("cpu_pct_send", 0.0)
    summary["resources"] = {
        **resources,
        # Other work on the box (another test run, a build) skews the numbers: say how much.
        "other_processes_cpu_pct_send": round(max(0.0, machine_send - known), 1),
        "generator_cpu_pct_by_process": generator_cpu,
    }
    summary["cpu_budget"] = cpu_budget(
        sampler.core_seconds_between("send_start", "send_end"),
        messages=report["send"]["acks"],
        deliveries=report["deliveries"]["received"],
        seconds=options.duration,
    )
    summary["core_seconds_send"] = {
        name: round(value, 2)
        for name, value in sampler.core_seconds_between("send_start", "send_end").items()
    }
    if counters:
        summary["counters_core_seconds_send"] = {
            name: round(counted["send_end"][name] - counted["send_start"][name], 3)
            for name in counters
        }
    summary["run_dir"] = str(options.run_dir)
    return summary, (1 if failures else 0)


def cpu_budget(
    core_seconds: dict[str, float], *, messages: int, deliveries: int, seconds: float
) -> dict[str, dict[str, float]]:
    """What the server side spent in the send phase: core-seconds per 1,000 messages and per
    10,000 deliveries, and cores on average, for the app servers together, PostgreSQL, Redis and
    their sum (the generator and the rest of the machine are left out). The number every
    change of the send path is judged by (docs/performance.md)."""
    parts = {
        "servers": sum(v for name, v in core_seconds.items() if name.startswith("server-")),
        "postgres": core_seconds.get("postgres", 0.0),
        "redis": core_seconds.get("redis", 0.0),
    }
    parts["total"] = sum(parts.values())
    return {
        "core_seconds": {name: round(value, 2) for name, value in parts.items()},
        "cores": {name: round(value / max(seconds, 1e-9), 3) for name, value in parts.items()},
        "per_1000_messages": {
            name: round(1000 * value / max(messages, 1), 3) for name, value in parts.items()
        },
        "per_10000_deliveries": {
            name: round(10000 * value / max(deliveries, 1), 3) for name, value in parts.items()
        },
    }


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def interruptible(label: str, stopped: str, body: Callable[[], int]) -> int:
    """`body()` with SIGTERM and SIGINT (even when a non-interactive shell started us with it
    ignored) unwinding through its `finally` blocks: 130 after an interruption, 2 after a
    `SystemExit` with a message, each said on stderr as `label: ...`. `stopped`: what those
    blocks stopped, for the interruption's message."""
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        return body()
    except KeyboardInterrupt:
        print(f"{label}: interrupted ({stopped})", file=sys.stderr)
        return 130
    except SystemExit as stop:
        if isinstance(stop.code, str):
            print(f"{label}: {stop.code}", file=sys.stderr)
            return 2
        raise


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    return interruptible(
        "load harness", "servers and clients stopped", lambda: _run_and_report(options)
    )


def _run_and_report(options: Options) -> int:
    summary, status = run(options)
    text = json.dumps(summary, indent=2, default=str)
    print(text)
    if options.output is not None:
        options.output.parent.mkdir(parents=True, exist_ok=True)
        options.output.write_text(text + "\n")
    return status
