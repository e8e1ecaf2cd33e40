"""The load harness against Enclave deployed on the three-server test hosts, through nginx.

Run it as root from the repository root (it boots hosts as the `deploy` tests do)::

    .venv/bin/python -m tests.load.deployed --users 5000 --room-size 10 --rate 1000 \
        --duration 120

It builds the offline bundle of HEAD, boots app1, app2, db1 and cache1 and converges
ansible/site.yml onto them as tests/deploy/test_converge.py does
(tests/deploy/deployment.py), then runs the load harness (tests/load/harness) with
`--no-servers --url https://<app1>,https://<app2> --server-name chat.example.com --insecure`:
the users take the two nginx in turn (as behind DNS round robin; TLS with the role's self-signed
certificate), and each nginx spreads its sockets over the web workers of both app hosts. Only
nginx's worker_connections is set below the role's default, to what the hard limit of open
files the hosts inherit from this process allows (`nginx_worker_connections`). The harness's
data set is made in the deployed database and audited there afterwards, through an SSH local
forward via app1 (db1's pg_hba admits only the app hosts), with the deployed role and password
of the converge secrets. Every option the harness takes
(`python -m tests.load.harness --help`) passes through, but the topology ones are set here;
`--rates 1000,250` runs the harness once per rate on the same hosts and data set (one converge).

CPU per host is read from each host's cgroup (`cpu.stat`, usage_usec) at the start and the end of
the send phase: core-seconds per 1,000 acknowledged messages for app1, app2, db1 and cache1, and
the generator's own (its processes, as the harness measures them). The hosts and the generator
share this machine's cores: this measures the deployed path and its cost per host, not what
separate machines would carry (docs/performance.md).

Prints one JSON summary per run: the deployment's figures first ("deployed"), then the
harness's. Exit status as the harness's (0: every audit passed), 2 when a run could not be
carried out.
"""

from __future__ import annotations

import contextlib
import json
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.deploy.deployment import (
    DATABASE_NAME,
    DATABASE_USER,
    DOMAIN,
    SECRETS,
    Deployment,
    release_bundle_of_head,
    three_server_deployment,
)
from tests.deploy.hosts import Host, deploy_problem, generate_ssh_key
from tests.load.harness import cli
from tests.load.harness.options import parse_options

HOSTS = ("app1", "app2", "db1", "cache1")
NGINX_HOSTS = ("app1", "app2")  # the users take them in turn, as behind DNS round robin
# Set here, from the deployment; refused on the command line.
TOPOLOGY_OPTIONS = (
    "--no-servers",
    "--url",
    "--server-name",
    "--insecure",
    "--share-database",
    "--database-url",
)


def nginx_worker_connections() -> int:
    """The hosts inherit this process's hard limit of open files (20,000 on our VMs) and cannot
    raise it; the role's nginx asks for 4 × worker_connections (worker_rlimit_nofile), and a
    worker whose setrlimit fails stays at 1,024 files: ask for no more than the limit allows."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return 16384 if hard == resource.RLIM_INFINITY else min(16384, hard // 4)


def cgroup_core_seconds(host: Host) -> Callable[[], float]:
    """A reader of the CPU time (core-seconds) every process of the host has used so far."""
    stat = Path(host.cgroup) / "cpu.stat"

    def read() -> float:
        for line in stat.read_text().splitlines():
            key, _sep, value = line.partition(" ")
            if key == "usage_usec":
                return int(value) / 1e6
        raise RuntimeError(f"no usage_usec in {stat}")

    return read


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def database_forward(deployment: Deployment, *, timeout: float = 30) -> Iterator[int]:
    """A local port that reaches db1's PostgreSQL through app1 (`ssh -L`): the connection comes
    from app1's address, which db1's pg_hba admits."""
    app1 = deployment.hosts["app1"]
    port = _free_port()
    argv = app1.ssh_argv("")[:-2]  # the options and key without the destination and command
    argv += [
        "-N",
        "-o",
        "ExitOnForwardFailure=yes",
        "-L",
        f"127.0.0.1:{port}:{deployment.hosts['db1'].address}:5432",
        f"root@{app1.address}",
    ]
    tunnel = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if tunnel.poll() is not None:
                raise RuntimeError(f"ssh -L via app1 exited with {tunnel.returncode}")
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            if time.monotonic() > deadline:
                raise RuntimeError("ssh -L via app1 did not listen in time")
            time.sleep(0.2)
        yield port
    finally:
        tunnel.terminate()
        tunnel.wait(10)


def deployed_database_url(port: int) -> str:
    password = SECRETS["vault_enclave_postgresql_password"]
    return f"postgres://{DATABASE_USER}:{password}@127.0.0.1:{port}/{DATABASE_NAME}"


def harness_argv(deployment: Deployment, database_url: str, argv: list[str]) -> list[str]:
    """The harness's arguments: the user's traffic and data set, the deployment's topology."""
    return [
        *argv,
        "--no-servers",
        "--url",
        ",".join(f"https://{deployment.hosts[name].address}" for name in NGINX_HOSTS),
        "--server-name",
        DOMAIN,
        "--insecure",
        "--share-database",
        "--database-url",
        database_url,
    ]


def run_against(
    deployment: Deployment, database_url: str, argv: list[str]
) -> tuple[dict[str, Any], dict[str, Any], int]:
    """Load the converged hosts with the harness; (deployed figures, harness summary, status).
    The harness configures Django in this process once: every run must use the same
    `database_url` (one forward)."""
    options = parse_options(harness_argv(deployment, database_url, argv))
    counters = {name: cgroup_core_seconds(deployment.hosts[name]) for name in HOSTS}
    summary, status = cli.run(options, counters=counters)
    return deployed_figures(summary), summary, status


def deployed_figures(summary: dict[str, Any]) -> dict[str, Any]:
    """What docs/performance.md reports of a deployed run, from the harness's summary."""
    acks = summary["send"]["acks"]
    seconds = summary["send"]["duration_s"]
    hosts = summary.get("counters_core_seconds_send", {})  # without counters: the generator's
    core_seconds = {**hosts, "generator": summary["core_seconds_send"].get("generator", 0.0)}
    if hosts:
        core_seconds["hosts_total"] = sum(hosts.values())
    connections = summary["connections"]
    deliveries = summary["deliveries"]
    audit = summary["audit"]
    idle = summary.get("counters_cores_idle", {})
    above_idle = {
        name: round(1000 * max(0.0, hosts[name] - idle[name] * seconds) / max(acks, 1), 3)
        for name in hosts
        if name in idle
    }
    return {
        "users": summary["data"]["users"],
        "target_rate": summary["send"]["target_rate"],
        "achieved_rate": summary["send"]["achieved_rate"],
        "ack_rate": summary["send"]["ack_rate"],
        "steady_s": seconds,
        "ack_ms": _percentiles(summary["latency"]["ack"]),
        "delivery_ms": _percentiles(summary["latency"]["delivery"]),
        "lost": {
            "acked_not_stored": audit["acked_missing_in_db"],
            "unacked": summary["send"]["sent"] - acks,
            "deliveries_missed": deliveries["missed"],
        },
        "duplicated": {"stored": audit["db_duplicates"], "deliveries": deliveries["duplicates"]},
        "clients_converged": (
            connections["connected"] == connections["attempted"]
            and connections["unexpected_disconnects"] == 0
            and deliveries["missed"] == 0
        ),
        "audit_ok": audit["ok"],
        "core_seconds": {name: round(value, 2) for name, value in core_seconds.items()},
        "cores": {
            name: round(value / max(seconds, 1e-9), 3) for name, value in core_seconds.items()
        },
        "core_seconds_per_1000_messages": {
            name: round(1000 * value / max(acks, 1), 3) for name, value in core_seconds.items()
        },
        # The hosts with every socket open and nothing sent (after the connection storm), and
        # what a message costs above that.
        "idle_cores": idle,
        "core_seconds_per_1000_messages_above_idle": above_idle,
        "settle_s": summary["data"].get("settle_s"),
    }


def _percentiles(latency: dict[str, Any]) -> dict[str, Any]:
    return {key: latency.get(key) for key in ("p50_ms", "p99_ms")}


def _rates(argv: list[str]) -> tuple[list[str], list[str]]:
    """`--rates 1000,250` (ours: one harness run per rate on the same converged hosts and data
    set, each audited on its own) out of argv; (the rest, the rates as --rate values)."""
    rest: list[str] = []
    rates: list[str] = []
    items = iter(argv)
    for item in items:
        name, sep, value = item.partition("=")
        if name == "--rates":
            rates = [rate for rate in (value if sep else next(items, "")).split(",") if rate]
        else:
            rest.append(item)
    return rest, rates


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(arg.split("=", 1)[0] in TOPOLOGY_OPTIONS for arg in argv) or "--help" in argv:
        print(__doc__)
        return 0 if "--help" in argv else 2
    argv, rates = _rates(argv)
    runs = [[*argv, "--rate", rate] for rate in rates] or [argv]
    problem = deploy_problem()
    if problem is not None:
        print(f"deployed load benchmark: cannot boot test hosts here: {problem}", file=sys.stderr)
        return 2
    # SIGTERM and SIGINT unwind through the `finally` blocks that tear the hosts down.
    return cli.interruptible("deployed load benchmark", "hosts torn down", lambda: _benchmark(runs))


def _benchmark(runs: list[list[str]]) -> int:
    status = 0
    with tempfile.TemporaryDirectory(prefix="enclave-deployed-load-") as scratch:
        work = Path(scratch)
        started = time.monotonic()
        bundle = release_bundle_of_head()
        timings = {"bundle_s": round(time.monotonic() - started, 1)}

        def timing(label: str, seconds: float) -> None:
            timings[label] = round(seconds, 1)
            print(f"[deployed] {label}: {seconds:.1f} s", file=sys.stderr)

        with (
            three_server_deployment(
                private_key=generate_ssh_key(work),
                bundle=bundle,
                work=work / "hosts",
                timing=timing,
                extra_vars={"enclave_nginx_worker_connections": nginx_worker_connections()},
            ) as deployment,
            database_forward(deployment) as port,
        ):
            for run_argv in runs:
                figures, summary, run_status = run_against(
                    deployment, deployed_database_url(port), run_argv
                )
                status = max(status, run_status)
                # One JSON object per run, as soon as it is done (a later run may not hold).
                output = {"deployed": {**figures, "setup": timings}, **summary}
                print(json.dumps(output, indent=2, default=str), flush=True)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
