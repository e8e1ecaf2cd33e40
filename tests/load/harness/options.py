"""Command-line options of the harness, parsed into one frozen `Options` value."""

from __future__ import annotations

import argparse
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/enclave_load"
# A database of its own so that the harness may flush it; the test suite uses db 0.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/9"
DEFAULT_MIX_WEIGHTS = {"dm": 0.4, "team": 0.5, "big": 0.1}


@dataclass(frozen=True)
class Options:
    # Data set (a "scenario"): reused when an identical one is already in the database.
    users: int
    room_size: int
    rooms_per_user: int
    mix: bool
    mix_weights: dict[str, float]
    dms_per_user: int
    big_channels: int
    big_channel_size: int
    seed: int
    fresh: bool
    database_url: str
    # Topology.
    servers: int
    server: str
    listen: str
    port: int
    start_servers: bool
    url: str
    server_name: str
    tls_insecure: bool
    share_database: bool
    redis_url: str
    server_env: dict[str, str]
    server_args: list[str]
    # Traffic.
    clients: int
    client_kind: str
    ramp: float
    rate: float
    duration: float
    body_size: int
    watch: int
    postgres_settings: list[tuple[str, str]]
    connect_timeout: float
    connect_retries: int
    ack_timeout: float
    grace: float
    drain_timeout: float
    settle: float
    settle_cpu: float
    wait_quiet: float
    # Output.
    profile_seconds: float
    profile_gil: bool
    run_dir: Path
    output: Path | None
    sample_interval: float = 1.0

    def scenario(self) -> dict[str, object]:
        """What identifies a prepared data set; traffic knobs are not part of it."""
        scenario: dict[str, object] = {
            "version": 1,
            "users": self.users,
            "seed": self.seed,
            "mix": self.mix,
        }
        if self.mix:
            scenario.update(
                dms_per_user=self.dms_per_user,
                team_size=self.room_size,
                big_channels=self.big_channels,
                big_channel_size=self.big_channel_size,
            )
        else:
            scenario.update(room_size=self.room_size, rooms_per_user=self.rooms_per_user)
        return scenario


def _key_values(items: list[str]) -> dict[str, str]:
    result: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {item!r}")
        result[key] = value
    return result


def _weights(text: str) -> dict[str, float]:
    weights = {key: float(value) for key, value in _key_values(text.split(",")).items()}
    unknown = set(weights) - set(DEFAULT_MIX_WEIGHTS)
    if unknown or sum(weights.values()) <= 0:
        raise argparse.ArgumentTypeError("weights are dm=..,team=..,big=.. with a positive sum")
    return {key: weights.get(key, 0.0) for key in DEFAULT_MIX_WEIGHTS}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tests.load.harness",
        description="WebSocket load test of Enclave with a delivery audit; prints one JSON object.",
    )
    data = parser.add_argument_group("data set")
    data.add_argument("--users", type=int, default=500, help="users, one socket each")
    data.add_argument("--room-size", type=int, default=10, help="members per room (team size)")
    data.add_argument("--rooms-per-user", type=int, default=1, help="rooms each user is in")
    data.add_argument(
        "--mix",
        action="store_true",
        help="DMs + teams of --room-size + a few big public channels instead of uniform rooms",
    )
    data.add_argument(
        "--mix-weights",
        type=_weights,
        default=DEFAULT_MIX_WEIGHTS,
        help="share of messages per room kind with --mix (default dm=0.4,team=0.5,big=0.1)",
    )
    data.add_argument("--dms-per-user", type=int, default=2, help="with --mix")
    data.add_argument("--big-channels", type=int, default=3, help="with --mix")
    data.add_argument("--big-channel-size", type=int, default=500, help="with --mix")
    data.add_argument("--seed", type=int, default=1)
    data.add_argument("--fresh", action="store_true", help="rebuild the data set even if present")
    data.add_argument(
        "--database-url",
        default=os.environ.get("LOAD_DATABASE_URL", DEFAULT_DATABASE_URL),
        help=f"PostgreSQL database to use (created and migrated); default {DEFAULT_DATABASE_URL}",
    )

    topo = parser.add_argument_group("server topology")
    topo.add_argument("--servers", type=int, default=1, help="ASGI server processes")
    topo.add_argument(
        "--server",
        choices=["daphne", "uvicorn", "relay"],
        default="daphne",
        help="relay: the minimal WebSocket relay (tests/load/relay.py), no persistence",
    )
    topo.add_argument(
        "--listen",
        choices=["reuseport", "ports"],
        default="reuseport",
        help="one port shared through SO_REUSEPORT (default) or one port per server "
        "(clients round-robin over them)",
    )
    topo.add_argument("--port", type=int, default=8100, help="(first) port to listen on")
    topo.add_argument(
        "--no-servers",
        dest="start_servers",
        action="store_false",
        help="do not start servers; load --url instead (must use --database-url)",
    )
    topo.add_argument(
        "--url",
        default="",
        help="base URL of running servers, with --no-servers; several, comma-separated, "
        "take the users in turn (two nginx of a deployment)",
    )
    topo.add_argument(
        "--server-name",
        default="",
        help="with --url https://ADDRESS: the Host header and TLS SNI (the domain nginx serves)",
    )
    topo.add_argument(
        "--insecure",
        dest="tls_insecure",
        action="store_true",
        help="with an https:// --url: accept any certificate (a test host's self-signed one)",
    )
    topo.add_argument(
        "--share-database",
        action="store_true",
        help="the database is a deployed system's: add the data set beside its data (never "
        "emptied; a different scenario already there is refused) instead of owning it",
    )
    topo.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="flushed before each run")
    topo.add_argument(
        "--postgres-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="ALTER SYSTEM on the PostgreSQL server first (it keeps it): wal_compression=lz4",
    )
    topo.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the servers (repeatable), e.g. ENCLAVE_WS_PUSH_HOLD_MS=0",
    )

    topo.add_argument(
        "--server-args",
        default="",
        help='extra command-line arguments for every server, e.g. "--websocket_connect_timeout 30"',
    )

    load = parser.add_argument_group("traffic")
    load.add_argument("--clients", type=int, default=2, help="generator processes")
    load.add_argument(
        "--client",
        choices=["lean", "websockets"],
        default="lean",
        help="the generator's socket: the harness's lean client (leanws.py), or one on the "
        "websockets library (libws.py, about twice the CPU)",
    )
    load.add_argument("--ramp", type=float, default=200.0, help="new connections per second")
    load.add_argument("--rate", type=float, default=100.0, help="messages per second, in total")
    load.add_argument("--duration", type=float, default=30.0, help="seconds of sending")
    load.add_argument("--body-size", type=int, default=60, help="characters per message body")
    load.add_argument(
        "--watch",
        type=int,
        default=20,
        help="presence: each client watches up to this many peers of its rooms (0: none)",
    )
    load.add_argument(
        "--settle",
        type=float,
        default=60.0,
        help="after the ramp, wait up to this long for the servers to go quiet (0: do not)",
    )
    load.add_argument(
        "--settle-cpu", type=float, default=15.0, help="CP%% under which a server counts as quiet"
    )
    load.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="first wait up to SECONDS for the machine to be idle (other test runs skew numbers)",
    )
    load.add_argument("--connect-timeout", type=float, default=30.0)
    load.add_argument(
        "--connect-retries",
        type=int,
        default=3,
        help="reconnect attempts per user after a failed handshake (jittered backoff)",
    )
    load.add_argument("--ack-timeout", type=float, default=30.0)
    load.add_argument(
        "--grace",
        type=float,
        default=3.0,
        help="after the last ack, wait until no push arrived for this long",
    )
    load.add_argument(
        "--drain-timeout", type=float, default=90.0, help="but wait no longer than this"
    )

    out = parser.add_argument_group("output")
    out.add_argument(
        "--profile",
        dest="profile_seconds",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="py-spy the first server for SECONDS during the send phase",
    )
    out.add_argument(
        "--profile-gil",
        action="store_true",
        help="with --profile: sample only the thread holding the GIL (py-spy --gil), so the "
        "profile shows where CPU goes rather than where threads wait for the GIL",
    )
    out.add_argument("--run-dir", type=Path, default=None, help="logs and profiles go here")
    out.add_argument("--output", type=Path, default=None, help="also write the JSON here")
    return parser


def parse_options(argv: list[str] | None = None) -> Options:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.users < 2 or args.room_size < 2:
        parser.error("need at least 2 users and rooms of at least 2")
    if not args.start_servers and not args.url:
        parser.error("--no-servers needs --url")
    if args.clients < 1 or args.servers < 1 or args.rate <= 0 or args.ramp <= 0:
        parser.error("--clients, --servers, --rate and --ramp must be positive")
    run_dir = args.run_dir
    if run_dir is None:
        from datetime import UTC, datetime

        run_dir = REPO_ROOT / "var" / "load" / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Options(
        users=args.users,
        room_size=args.room_size,
        rooms_per_user=args.rooms_per_user,
        mix=args.mix,
        mix_weights=args.mix_weights,
        dms_per_user=args.dms_per_user,
        big_channels=args.big_channels,
        big_channel_size=args.big_channel_size,
        seed=args.seed,
        fresh=args.fresh,
        database_url=args.database_url,
        servers=args.servers,
        server=args.server,
        listen=args.listen,
        port=args.port,
        start_servers=args.start_servers,
        url=args.url.rstrip("/"),
        server_name=args.server_name,
        tls_insecure=args.tls_insecure,
        share_database=args.share_database,
        redis_url=args.redis_url,
        server_env=_key_values(args.server_env),
        server_args=shlex.split(args.server_args),
        clients=args.clients,
        client_kind=args.client,
        ramp=args.ramp,
        rate=args.rate,
        duration=args.duration,
        body_size=args.body_size,
        watch=args.watch,
        postgres_settings=[tuple(item.split("=", 1)) for item in args.postgres_setting],  # type: ignore[misc]
        connect_timeout=args.connect_timeout,
        connect_retries=args.connect_retries,
        ack_timeout=args.ack_timeout,
        grace=args.grace,
        drain_timeout=args.drain_timeout,
        settle=args.settle,
        settle_cpu=args.settle_cpu,
        wait_quiet=args.wait_quiet,
        profile_seconds=args.profile_seconds,
        profile_gil=args.profile_gil,
        run_dir=run_dir,
        output=args.output,
    )
