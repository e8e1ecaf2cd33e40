"""The chaos run: faults under load, the time each takes to recover from, and an audit.

    python -m tests.load.chaos --users 1000 --rate 500 --servers 2

1. Start a PostgreSQL cluster and a Redis of the run's own (tests/load/chaos/services.py),
   build the load harness's data set in it (people in rooms of --room-size, API tokens) and
   start --servers uvicorn processes with the production settings, one port each.
2. Connect one reconnecting client per person (tests/load/chaos/client.py) and send --rate
   messages a second for the whole run.
3. After --warmup seconds, and then every --interval seconds, one fault at a time:
   - `app`: SIGKILL one app server; it is started again after --restart-delay (systemd's
     RestartSec in the Ansible unit is 2 s);
   - `redis`: SIGKILL Redis, start it again after --down (the bus and presence start empty);
   - `postgres`: `pg_ctl stop -m immediate` (no checkpoint: crash recovery on start), start it
     again after --down.
4. Stop sending, let every outbox drain and every view close its holes, then audit.

**Time to recover** from a fault: from the fault until the first moment after which every
message sent before the next fault was acknowledged and reached every member's view (push or
catch-up) within --healthy-latency (1 s) of being written. 0 means no message was slowed.

**The audit** (against the database): every acknowledged message stored exactly once, with
the id, channel and seq of its ack; every message written was acknowledged in the end (the
clients retry, as the web client does, so "never acknowledged" is a loss too); no message
stored that no client sent; each room's seqs dense; every person's view of every room equal
to the database (the whole history, no hole), reached by the clients' own pushes, resyncs and
catch-ups. Prints one JSON object; exits 1 when the audit fails or a fault did not recover.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

from tests.load.chaos import client as chaos_client
from tests.load.chaos.services import Postgres, Redis, free_port, services_problem, workspace
from tests.load.harness import dataset, servers
from tests.load.harness.options import parse_options

FAULTS = ("app", "redis", "postgres")
# The audit's counts that must all be 0 for the run to pass.
AUDIT_ZERO = (
    "lost",
    "never_acknowledged",
    "duplicated",
    "ack_mismatches",
    "wrong_content",
    "stored_but_not_acknowledged",
    "unexpected_messages",
    "channels_with_gaps_in_seq",
    "views_not_converged",
    "views_with_a_wrong_message",
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tests.load.chaos", description=__doc__)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--room-size", type=int, default=10)
    parser.add_argument("--rate", type=float, default=500.0, help="messages per second")
    parser.add_argument("--servers", type=int, default=2)
    parser.add_argument("--body-size", type=int, default=80)
    parser.add_argument("--ramp", type=float, default=500.0, help="connections per second")
    parser.add_argument("--warmup", type=float, default=15.0, help="seconds before the first fault")
    parser.add_argument("--interval", type=float, default=25.0, help="seconds between faults")
    parser.add_argument("--faults", default=",".join(FAULTS), help="in this order")
    parser.add_argument("--down", type=float, default=2.0, help="Redis/PostgreSQL down for")
    parser.add_argument("--restart-delay", type=float, default=2.0, help="app server down for")
    parser.add_argument("--healthy-latency", type=float, default=1.0)
    parser.add_argument("--drain-timeout", type=float, default=90.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the run's directory")
    parser.add_argument("--output", type=Path, help="also write the JSON here")
    return parser


class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.faults = [name.strip() for name in args.faults.split(",") if name.strip()]
        unknown = set(self.faults) - set(FAULTS)
        if unknown:
            raise SystemExit(f"unknown faults: {', '.join(sorted(unknown))}")
        self.root = workspace()
        self.postgres = Postgres(self.root)
        self.redis = Redis(self.root)
        self.options = parse_options(
            [
                "--users",
                str(args.users),
                "--room-size",
                str(args.room_size),
                "--seed",
                str(args.seed),
                "--fresh",
                "--database-url",
                self.postgres.url,
                "--redis-url",
                self.redis.url,
                "--servers",
                str(args.servers),
                "--server",
                "uvicorn",
                "--listen",
                "ports",
                "--port",
                str(free_port()),
                "--run-dir",
                str(self.root / "run"),
            ]
        )
        self.topology: servers.Topology | None = None
        self.injected: list[dict[str, Any]] = []

    # --- set-up ---------------------------------------------------------------------------------

    def start(self) -> list[chaos_client.Person]:
        self.postgres.init()
        self.postgres.start()
        self.redis.start()
        data = dataset.prepare(self.options)
        self.topology = servers.start(self.options)
        rooms_of: dict[int, list[int]] = {}
        for room in data.rooms.values():
            for member in room.member_ids:
                rooms_of.setdefault(member, []).append(room.id)
        self.members = {room.id: len(room.member_ids) for room in data.rooms.values()}
        return [
            chaos_client.Person(
                user_id=user_id,
                token=token,
                rooms=rooms_of.get(user_id, []),
                views={room_id: chaos_client.RoomView() for room_id in rooms_of.get(user_id, [])},
            )
            for user_id, token in data.users
            if rooms_of.get(user_id)
        ]

    def stop(self) -> None:
        if self.topology is not None:
            self.topology.stop()
        self.redis.stop()
        self.postgres.stop()
        if not self.args.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    # --- faults ---------------------------------------------------------------------------------

    async def inject(self, name: str) -> None:
        loop = asyncio.get_running_loop()
        at = time.time()
        detail: dict[str, Any] = {"fault": name, "at": at}
        if name == "app":
            assert self.topology is not None
            victim = self.topology.servers[0]
            detail["connections"] = self.topology.connections_per_server().get("server-0", 0)
            os.kill(victim.process.pid, signal.SIGKILL)
            await loop.run_in_executor(None, victim.process.wait)
            await asyncio.sleep(self.args.restart_delay)
            servers.respawn(self.options, self.topology, 0)
        elif name == "redis":
            await loop.run_in_executor(None, self.redis.crash)
            await asyncio.sleep(self.args.down)
            await loop.run_in_executor(None, self.redis.start)
        else:
            await loop.run_in_executor(None, self.postgres.crash)
            await asyncio.sleep(self.args.down)
            await loop.run_in_executor(None, self.postgres.start)
        detail["restored_after_s"] = round(time.time() - at, 2)
        self.injected.append(detail)

    async def drive(self, crowd: chaos_client.Crowd) -> dict[str, Any]:
        args = self.args
        await crowd.connect_all(args.ramp)
        deadline = time.monotonic() + 60
        while crowd.connected < len(crowd.people) and time.monotonic() < deadline:  # noqa: ASYNC110 - a count to poll, no event
            await asyncio.sleep(0.1)
        connected_before = crowd.connected
        tender = asyncio.create_task(crowd.tend())
        duration = args.warmup + args.interval * len(self.faults)
        sender = asyncio.create_task(crowd.send(duration))
        await asyncio.sleep(args.warmup)
        for name in self.faults:
            fault_started = time.monotonic()
            await self.inject(name)
            await asyncio.sleep(max(0.0, args.interval - (time.monotonic() - fault_started)))
        await sender
        sent_until = time.time()
        # Drain: every outbox empty, every person connected, no hole in any view.
        deadline = time.monotonic() + args.drain_timeout
        while time.monotonic() < deadline:
            if crowd.outboxed == 0 and crowd.holes() == 0 and crowd.connected == len(crowd.people):
                break
            await asyncio.sleep(0.2)
        drained_after = time.time() - sent_until
        await asyncio.sleep(2.0)  # late pushes are late, not lost
        tender.cancel()
        await crowd.close_all()
        return {
            "people": len(crowd.people),
            "connected_before_faults": connected_before,
            "sent_until": sent_until,
            "drained_after_s": round(drained_after, 2),
            "outboxed_at_end": crowd.outboxed,
            "holes_at_end": crowd.holes(),
        }

    # --- the verdict ----------------------------------------------------------------------------

    def audit(self, crowd: chaos_client.Crowd) -> dict[str, Any]:
        record = crowd.record
        conninfo = self.postgres.url.replace("postgres://", "postgresql://", 1)
        with psycopg.connect(conninfo) as conn:
            rows = conn.execute(
                "SELECT id, channel_id, seq, sender_id, client_msg_id::text, body FROM chat_message"
            ).fetchall()
            channels = dict(conn.execute("SELECT id, last_seq FROM chat_channel").fetchall())
        stored: dict[str, list[tuple[int, int, int, int, str]]] = {}
        by_position: dict[tuple[int, int], int] = {}
        seqs: dict[int, list[int]] = {}
        unexpected = 0
        for message_id, channel_id, seq, sender_id, client_msg_id, body in rows:
            by_position[(channel_id, seq)] = message_id
            seqs.setdefault(channel_id, []).append(seq)
            if client_msg_id is None or client_msg_id not in record.sends:
                unexpected += 1
                continue
            stored.setdefault(client_msg_id, []).append(
                (message_id, channel_id, seq, sender_id, body)
            )
        lost = duplicated = ack_mismatches = wrong_content = 0
        for client_msg_id, ack in record.acks.items():
            copies = stored.get(client_msg_id, [])
            if not copies:
                lost += 1
                continue
            if len(copies) > 1:
                duplicated += len(copies) - 1
            message_id, channel_id, seq, sender_id, body = copies[0]
            if (message_id, channel_id, seq) != ack[:3]:
                ack_mismatches += 1
            sent = record.sends[client_msg_id]
            if (sender_id, channel_id, body) != (sent.sender_id, sent.channel_id, sent.body):
                wrong_content += 1
        never_acked = sum(
            1
            for client_msg_id in record.sends
            if client_msg_id not in record.acks and client_msg_id not in record.refused
        )
        stored_not_acked = sum(1 for cmid in stored if cmid not in record.acks)
        not_dense = sum(
            1
            for channel_id, found in seqs.items()
            if sorted(found) != list(range(1, len(found) + 1))
        )
        not_converged = 0
        for person in crowd.people:
            for channel_id, view in person.views.items():
                if view.above or view.high != channels.get(channel_id, 0):
                    not_converged += 1
        identity_wrong = sum(
            1
            for position, message_id in record.identity.items()
            if by_position.get(position) != message_id
        )
        result = {
            "written": len(record.sends),
            "acknowledged": len(record.acks),
            "acknowledged_as_duplicate": sum(1 for ack in record.acks.values() if ack[3]),
            "refused": dict(sorted(record.refused.items())[:5]) | {"count": len(record.refused)},
            "stored": len(rows),
            "lost": lost,
            "never_acknowledged": never_acked,
            "duplicated": duplicated,
            "ack_mismatches": ack_mismatches,
            "wrong_content": wrong_content,
            "stored_but_not_acknowledged": stored_not_acked,
            "unexpected_messages": unexpected,
            "channels_with_gaps_in_seq": not_dense,
            "views_not_converged": not_converged,
            "views_with_a_wrong_message": identity_wrong + record.identity_mismatches,
        }
        result["passed"] = all(result[key] == 0 for key in AUDIT_ZERO) and not record.refused
        return result

    def recovery(self, crowd: chaos_client.Crowd, sent_until: float) -> list[dict[str, Any]]:
        """Per fault: the time until every message was acknowledged and in every member's view
        within --healthy-latency of being written (see the module's docstring)."""
        record = crowd.record
        limit = self.args.healthy_latency
        message_of = {cmid: ack[0] for cmid, ack in record.acks.items()}
        last_view: dict[int, float] = {}
        views: dict[int, int] = {}
        for message_id, seen_at in zip(record.view_message_ids, record.view_times, strict=True):
            views[message_id] = views.get(message_id, 0) + 1
            last_view[message_id] = max(last_view.get(message_id, 0.0), seen_at)
        latency: list[tuple[float, float]] = []  # (written at, complete after)
        for client_msg_id, sent in record.sends.items():
            ack = record.acks.get(client_msg_id)
            message_id = message_of.get(client_msg_id)
            if ack is None or message_id is None:
                latency.append((sent.first_sent, float("inf")))
                continue
            complete = ack[4]
            if views.get(message_id, 0) >= self.members.get(sent.channel_id, 0):
                complete = max(complete, last_view[message_id])
            else:
                complete = float("inf")
            latency.append((sent.first_sent, complete - sent.first_sent))
        latency.sort()
        # The same measure before the first fault: if the machine cannot carry the rate
        # without faults, the times to recover say nothing (run a lower --rate).
        first_fault = self.injected[0]["at"] if self.injected else sent_until
        calm = sorted(late for at, late in latency if at < first_fault - limit)
        report: list[dict[str, Any]] = [
            {
                "fault": "none (before the first)",
                "messages_in_window": len(calm),
                "messages_slower_than_limit": sum(1 for late in calm if late > limit),
                "p50_latency_s": round(calm[len(calm) // 2], 3) if calm else None,
                "p99_latency_s": round(calm[int(len(calm) * 0.99)], 3) if calm else None,
            }
        ]
        ends = [fault["at"] for fault in self.injected[1:]] + [sent_until]
        for fault, end in zip(self.injected, ends, strict=True):
            # A message written just before the next fault may be slowed by that one.
            window = [(at, late) for at, late in latency if fault["at"] <= at < end - limit]
            slow = [(at, late) for at, late in window if late > limit]
            last_slow = slow[-1][0] if slow else fault["at"]
            recovered = not slow or any(at > last_slow for at, _late in window)
            worst = max((late for _at, late in window), default=0.0)
            report.append(
                {
                    **fault,
                    "at": round(fault["at"] - self.injected[0]["at"], 1),
                    "recovered": recovered,
                    "time_to_recover_s": round(last_slow - fault["at"], 2) if slow else 0.0,
                    "after_restored_s": round(
                        max(0.0, last_slow - fault["at"] - fault["restored_after_s"]), 2
                    )
                    if slow
                    else 0.0,
                    "messages_in_window": len(window),
                    "messages_slower_than_limit": len(slow),
                    "worst_latency_s": round(worst, 2) if worst != float("inf") else None,
                }
            )
        return report


async def _main(run: Run, people: list[chaos_client.Person]) -> dict[str, Any]:
    crowd = chaos_client.Crowd(
        people,
        run.topology.urls if run.topology else [],
        rate=run.args.rate,
        body_size=run.args.body_size,
        seed=run.args.seed,
    )
    traffic = await run.drive(crowd)
    record = crowd.record
    return {
        "config": {
            key: value for key, value in vars(run.args).items() if key not in ("output", "keep")
        }
        | {"cores": os.cpu_count()},
        "faults": run.recovery(crowd, traffic["sent_until"]),
        "traffic": {k: v for k, v in traffic.items() if k != "sent_until"}
        | {
            "reconnects": record.reconnects,
            "resends": record.resends,
            "resyncs": record.resyncs,
            "catch_ups": record.catch_ups,
            "catch_up_failures": dict(record.catch_up_failures),
            "errors": dict(record.error_counts),
            "close_codes": dict(record.close_codes),
            "connect_failures": dict(record.connect_failures),
        },
        "audit": run.audit(crowd),
    }


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    problem = services_problem()
    if problem:
        print(json.dumps({"error": problem}))
        return 2
    run = Run(args)
    try:
        people = run.start()
        try:
            import uvloop

            summary = uvloop.run(_main(run, people))
        except ImportError:  # pragma: no cover - uvloop is in the dev requirements
            summary = asyncio.run(_main(run, people))
    finally:
        run.stop()
    summary["passed"] = summary["audit"]["passed"] and all(
        fault.get("recovered", True) for fault in summary["faults"]
    )
    text = json.dumps(summary, indent=2)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")
    sys.stdout.flush()
    return 0 if summary["passed"] else 1
