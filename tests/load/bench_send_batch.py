"""Rows/s of `messages_send_batch` (group commit) against `message_send` one at a time.

Run against the configured database (DATABASE_URL; SQLite by default), e.g.:

    createdb -h 127.0.0.1 -U postgres enclave_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/enclave_bench .venv/bin/python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/enclave_bench \\
        PYTHONPATH=. .venv/bin/python tests/load/bench_send_batch.py [--messages N]

Prints one JSON line per batch size: rows/s, milliseconds per batch (wall clock), this
process's CPU per row (steadier on a shared machine), statements per batch and, when
PostgreSQL runs on this host, its backend's CPU per batch (from /proc). `--unprepared` turns
off the prepared batch statement (docs/performance.md §5.16), to compare the two.
Users `bench-send-N` and their rooms are created on first use and reused; the messages stay
(use a database of its own). Pushes are not sent (the channel layer is stubbed out): this
measures the database path of one worker thread, as the socket's SendBatcher uses it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
import uuid
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
django.setup()

from django.db import connection  # noqa: E402

from apps.accounts.models import User  # noqa: E402
from apps.chat import services  # noqa: E402
from apps.chat.models import Channel, ChannelKind, Membership  # noqa: E402
from apps.core import events as core_events  # noqa: E402
from tests.load.bench_markdown import TYPICAL_MESSAGES  # noqa: E402

BATCH_SIZES = (1, 10, 50, 200)


def bench_rooms(*, users: int, room_size: int) -> list[tuple[Channel, list[User]]]:
    """Private rooms of `room_size` bench users (created once, then reused)."""
    people = []
    for index in range(users):
        user, _created = User.objects.get_or_create(
            username=f"bench-send-{index}", defaults={"display_name": f"Bench {index}"}
        )
        people.append(user)
    rooms = []
    for start in range(0, users - room_size + 1, room_size):
        members = people[start : start + room_size]
        channel, created = Channel.objects.get_or_create(
            kind=ChannelKind.PRIVATE, name=f"bench-send-room-{start // room_size}"
        )
        if created:
            Membership.objects.bulk_create(Membership(channel=channel, user=u) for u in members)
        rooms.append((channel, members))
    return rooms


def random_requests(
    rooms: list[tuple[Channel, list[User]]], count: int, randomness: random.Random
) -> list[services.SendRequest]:
    requests = []
    for _ in range(count):
        channel, members = randomness.choice(rooms)
        requests.append(
            services.SendRequest(
                sender=randomness.choice(members),
                channel_id=channel.pk,
                body=randomness.choice(TYPICAL_MESSAGES),
                client_msg_id=uuid.uuid4(),
            )
        )
    return requests


def backend_cpu_seconds() -> float | None:
    """CPU time of this connection's PostgreSQL backend so far, if it runs on this host."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    rooms: list[tuple[Channel, list[User]]], *, batch_size: int, messages: int, seed: int
) -> dict[str, Any]:
    randomness = random.Random(seed)
    batches = [
        random_requests(rooms, batch_size, randomness)
        for _ in range(max(1, messages // batch_size))
    ]
    statements = 0

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        nonlocal statements
        statements += 1
        return execute(sql, params, many, context)

    services.messages_send_batch(requests=random_requests(rooms, batch_size, randomness))  # warm
    backend_started = backend_cpu_seconds()
    with connection.execute_wrapper(count):
        started, cpu_started = time.perf_counter(), time.process_time()
        for batch in batches:
            outcomes = services.messages_send_batch(requests=batch)
            if not all(isinstance(o, services.SendResult) and o.created for o in outcomes):
                raise SystemExit(f"a send failed: {outcomes}")
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    backend_ended = backend_cpu_seconds()
    rows = batch_size * len(batches)
    backend: dict[str, Any] = {}
    if backend_started is not None and backend_ended is not None:
        backend["postgres_cpu_ms_per_batch"] = round(
            1000 * (backend_ended - backend_started) / len(batches), 3
        )
        backend["cpu_ms_per_batch"] = round(1000 * cpu / len(batches), 3)
    return {
        **backend,
        "vendor": connection.vendor,
        "batch_size": batch_size,
        "rows": rows,
        "rows_per_s": round(rows / elapsed),
        "ms_per_batch": round(1000 * elapsed / len(batches), 2),
        "cpu_us_per_row": round(1e6 * cpu / rows),
        "statements_per_batch": round(statements / len(batches), 1),
    }


def measure_one_by_one(
    rooms: list[tuple[Channel, list[User]]], *, messages: int, seed: int
) -> dict[str, Any]:
    """The reference: `message_send` per message (one transaction each)."""
    requests = random_requests(rooms, messages, random.Random(seed))
    started, cpu_started = time.perf_counter(), time.process_time()
    for r in requests:
        services.message_send(
            sender=r.sender, channel_id=r.channel_id, body=r.body, client_msg_id=r.client_msg_id
        )
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return {
        "vendor": connection.vendor,
        "batch_size": "message_send",
        "rows": messages,
        "rows_per_s": round(messages / elapsed),
        "ms_per_batch": round(1000 * elapsed / messages, 2),
        "cpu_us_per_row": round(1e6 * cpu / messages),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000, help="per batch size")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--room-size", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--unprepared", action="store_true", help="no prepared statements (for comparison)"
    )
    arguments = parser.parse_args()
    if arguments.unprepared and connection.vendor == "postgresql":
        connection.ensure_connection()
        connection.connection.prepare_threshold = None  # psycopg: never prepare

    core_events._send_to_topics = lambda groups, message: None  # type: ignore[assignment]
    rooms = bench_rooms(users=arguments.users, room_size=arguments.room_size)
    reference = measure_one_by_one(rooms, messages=arguments.messages, seed=arguments.seed)
    print(json.dumps({**reference, "cpus": os.cpu_count()}), flush=True)
    for batch_size in BATCH_SIZES:
        result = measure(
            rooms, batch_size=batch_size, messages=arguments.messages, seed=arguments.seed
        )
        print(json.dumps({**result, "cpus": os.cpu_count()}), flush=True)


if __name__ == "__main__":
    main()
