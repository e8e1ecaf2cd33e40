"""Read-path benchmark: history page and channel list at 1 million messages (issue "Performance").

Builds (once; a marker table remembers it) a realistic data set in a database of its own with
PostgreSQL COPY: 5,000 users, 1,000 channels of mixed sizes (two org-wide channels, large and
medium public channels, small private teams, DMs and group DMs), a hundred "power users" in
100+ channels, 1,000,000 messages skewed towards the big channels, with threads, reactions,
mentions, edits, deletions and read positions. Then it starts K production-settings servers
on one SO_REUSEPORT port (the WebSocket harness's own functions), and drives C concurrent
keep-alive HTTP/1.1 clients (a lean asyncio client in separate processes, whose CPU is
measured) for D seconds per endpoint, authenticated with API tokens of a sample of users.

Run:  PYTHONPATH=. .venv/bin/python tests/load/bench_reads.py [--servers 2] [--server uvicorn]
      [--duration 20] [--concurrency 16] [--endpoints history,channels] [--profile 10]
Prints one JSON object per endpoint (req/s, latency percentiles, errors, CPU per process
group) on its own line; logs and py-spy profiles go to var/load/reads-<timestamp>/.
`search` looks for a word of the data set's phrases (each phrase is in 1/16 of the
messages: the worst case for an index), `search_rare` for a message number (`#1234`: the
1,235th message of each channel that has one), both in the user's own channels.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import resource
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from html import escape
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

import psycopg

from tests.load.harness import profile, servers
from tests.load.harness.dataset import (
    _create_database,
    _migrate,
    _psycopg_conninfo,
    setup_django,
)
from tests.load.harness.options import REPO_ROOT, Options, parse_options
from tests.load.harness.stats import latency_summary

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/enclave_reads"
# Flushed by the server start-up: a Redis database no one else uses (harness 9, tests 0 and 7).
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/10"
DATASET_VERSION = 1
ENDPOINTS = ("history", "history_after", "history_before", "channels", "search", "search_rare")
# Not run by default: /healthz (one SELECT 1, no DRF, no auth), the floor of the stack.
EXTRA_ENDPOINTS = ("healthz",)
EMOJI = ("👍", "🎉", "❤️", "😂", "👀", "✅", "🙏", "🔥")
PHRASES = (
    "ok",
    "thanks!",
    "Sounds good, let's ship it",
    "can you take a look at the deploy?",
    "Meeting moved to 10:30, same room",
    "I think the issue is in settings.py, line 42",
    "Heads up: the VPN will be down tonight from 22:00 to 23:00",
    "See https://intranet.example.com/wiki/Onboarding for the checklist",
    "please review before Friday",
    "好的，我下午看一下",
    "明天的会议改到三点了",
    "这个问题在 manage.py migrate 之后就解决了",
    "大家好，今天的发布已经完成",
    "pull, rebase, push --force-with-lease",
    "mail me at someone@example.com if it breaks again",
    "lol",
)
# What `search` asks for: words of PHRASES (English and Chinese).
SEARCH_WORDS = ("meeting", "deploy", "review", "VPN", "会议", "问题", "发布", "下午")


# --- the data set ---------------------------------------------------------------------------------


def dataset_spec(args: argparse.Namespace) -> dict[str, Any]:
    """What identifies a built data set: rebuilt when any of it changes."""
    return {
        "version": DATASET_VERSION,
        "users": args.users,
        "channels": args.channels,
        "messages": args.messages,
        "power_users": args.power_users,
        "seed": args.seed,
    }


def _plan_channels(rng: random.Random, users: int, channels: int) -> list[tuple[str, str, int]]:
    """(kind, name, member count) of every channel: a realistic mix of sizes."""
    org_wide = 2
    large = max(1, channels * 18 // 1000)
    medium = channels * 180 // 1000
    teams = channels * 300 // 1000
    groups = channels * 100 // 1000
    dms = channels - org_wide - large - medium - teams - groups
    plan = [("public", f"all-hands-{i}", users) for i in range(org_wide)]
    plan += [("public", f"large-{i}", rng.randint(300, min(1500, users))) for i in range(large)]
    plan += [
        ("public" if i % 3 else "private", f"medium-{i}", rng.randint(30, min(200, users)))
        for i in range(medium)
    ]
    plan += [("private", f"team-{i}", rng.randint(4, 25)) for i in range(teams)]
    plan += [("group", "", rng.randint(3, 8)) for _ in range(groups)]
    plan += [("direct", "", 2) for _ in range(dms)]
    return plan


class _Copier:
    """Rows for one table, written with COPY in one go."""

    def __init__(self, table: str, columns: tuple[str, ...]) -> None:
        self.table = table
        self.columns = columns
        self.rows: list[tuple[Any, ...]] = []

    def copy(self, conn: psycopg.Connection[Any]) -> None:
        statement = f"COPY {self.table} ({', '.join(self.columns)}) FROM STDIN"
        with conn.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[arg-type]
            for row in self.rows:
                copy.write_row(row)
        conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{self.table}', 'id'), "  # noqa: S608
            f"(SELECT COALESCE(max(id), 1) FROM {self.table}))"
        )


def build_dataset(conninfo: str, args: argparse.Namespace) -> dict[str, Any]:
    """Fill the (migrated) database; returns counts. Deterministic for a given seed."""
    rng = random.Random(args.seed)
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=365)
    span = (now - start).total_seconds()
    user_ids = list(range(1, args.users + 1))
    power = user_ids[: args.power_users]

    users = _Copier(
        "accounts_user",
        [
            "id",
            "password",
            "is_superuser",
            "username",
            "first_name",
            "last_name",
            "email",
            "is_staff",
            "is_active",
            "date_joined",
            "display_name",
            "avatar",
            "time_zone",
            "language",
            "role",
            "is_bot",
        ],
    )
    tokens = _Copier(
        "accounts_apitoken", ("id", "user_id", "name", "prefix", "digest", "created_at")
    )
    raw_tokens: list[tuple[int, str]] = []
    from apps.accounts.tokens import token_digest, token_generate  # after django.setup()

    for uid in user_ids:
        users.rows.append(
            (
                uid,
                "!",
                False,
                f"user{uid:05d}",
                "",
                "",
                f"user{uid:05d}@reads.invalid",
                False,
                True,
                start,
                f"User {uid}",
                "",
                "UTC",
                "",
                "member",
                False,
            )
        )
        raw = token_generate()
        raw_tokens.append((uid, raw))
        tokens.rows.append((uid, uid, "bench_reads", raw[:12], token_digest(raw), start))

    plan = _plan_channels(rng, args.users, args.channels)
    members_of: list[list[int]] = []
    dm_keys: set[tuple[int, ...]] = set()
    for kind, _name, size in plan:
        members = list(user_ids) if size >= len(user_ids) else rng.sample(user_ids, size)
        while kind in ("direct", "group") and tuple(sorted(members)) in dm_keys:
            members = rng.sample(user_ids, size)  # one channel per member set
        dm_keys.add(tuple(sorted(members)))
        members_of.append(members)
    # Power users sit in 100+ channels: add each to enough named channels.
    named = [i for i, (kind, _n, _s) in enumerate(plan) if kind in ("public", "private")]
    for uid in power:
        for index in rng.sample(named, min(len(named), rng.randint(110, 200))):
            if uid not in members_of[index]:
                members_of[index].append(uid)

    # Messages per channel: heavy-tailed, growing with the channel's size.
    weights = [
        (len(m) ** 0.6) * rng.lognormvariate(0, 1.0) * (0.3 if plan[i][0] == "direct" else 1.0)
        for i, m in enumerate(members_of)
    ]
    total_weight = sum(weights)
    counts = [max(1, int(args.messages * w / total_weight)) for w in weights]
    counts[max(range(len(counts)), key=counts.__getitem__)] += args.messages - sum(counts)

    # Generate each channel's history in order, then give ids in global time order.
    # message tuple: [created_at, channel, seq, version, sender, body, html, root_index,
    #                 reply_count, last_reply_at, everyone, edited_at, deleted_at, uuid]
    messages: list[list[Any]] = []
    reactions: list[tuple[int, int, str, int]] = []  # (message index, user, emoji, seq)
    mentions: list[tuple[int, int]] = []  # (message index, user)
    channel_rows: list[tuple[Any, ...]] = []
    last_seq_of: list[int] = []
    for channel_index, (kind, name, _size) in enumerate(plan):
        members = members_of[channel_index]
        count = counts[channel_index]
        times = sorted(start + timedelta(seconds=rng.random() * span) for _ in range(count))
        seq = 0
        open_roots: list[int] = []
        later: list[tuple[int, int, str]] = []  # (due position, message index, change)
        for position, created in enumerate(times):
            for due, target, change in [c for c in later if c[0] <= position]:
                later.remove((due, target, change))
                seq += 1
                messages[target][3] = seq
                if change == "edit":
                    messages[target][11] = created
                elif change == "delete":
                    messages[target][5] = messages[target][6] = ""
                    messages[target][12] = created
                else:
                    reactor = rng.choice(members)
                    reactions.append((target, reactor, change, seq))
            seq += 1
            sender = rng.choice(power) if rng.random() < 0.1 else rng.choice(members)
            phrase = rng.choice(PHRASES)
            body = f"{phrase} #{position}"
            everyone = kind in ("public", "private") and rng.random() < 0.003
            index = len(messages)
            root = None
            if open_roots and rng.random() < 0.1:
                root = rng.choice(open_roots)
                messages[root][3] = seq
                messages[root][8] += 1
                messages[root][9] = created
            elif kind in ("public", "private") and rng.random() < 0.03:
                open_roots = [*open_roots[-19:], index]
            messages.append(
                [
                    created,
                    channel_index,
                    seq,
                    seq,
                    sender,
                    body,
                    f"<p>{escape(body)}</p>",
                    root,
                    0,
                    None,
                    everyone,
                    None,
                    None,
                    uuid.UUID(int=rng.getrandbits(128)),
                ]
            )
            if rng.random() < 0.04:
                for uid in rng.sample(members, min(len(members), rng.randint(1, 2))):
                    mentions.append((index, uid))
            if rng.random() < 0.08:
                for emoji in rng.sample(EMOJI, rng.randint(1, 3)):
                    later.append((position + rng.randint(1, 20), index, emoji))
            elif rng.random() < 0.02:
                later.append((position + rng.randint(1, 5), index, "edit"))
            elif rng.random() < 0.005:
                later.append((position + rng.randint(1, 50), index, "delete"))
        for _due, target, change in later:  # changes after the last message
            seq += 1
            messages[target][3] = seq
            if change == "edit":
                messages[target][11] = now
            elif change == "delete":
                messages[target][5] = messages[target][6] = ""
                messages[target][12] = now
            else:
                reactions.append((target, rng.choice(members), change, seq))
        last_seq_of.append(seq)
        dm_key = ",".join(str(u) for u in sorted(members)) if kind in ("direct", "group") else None
        channel_rows.append(
            (
                channel_index + 1,
                kind,
                name,
                "",
                "",
                False,
                False,
                dm_key,
                members[0],
                start,
                seq,
                times[-1] if times else None,
            )
        )

    order = sorted(range(len(messages)), key=lambda i: messages[i][0])
    message_id = [0] * len(messages)
    for position, index in enumerate(order, start=1):
        message_id[index] = position

    channels = _Copier(
        "chat_channel",
        [
            "id",
            "kind",
            "name",
            "topic",
            "description",
            "is_archived",
            "is_announcement",
            "dm_key",
            "created_by_id",
            "created_at",
            "last_seq",
            "last_message_at",
        ],
    )
    channels.rows = channel_rows
    memberships = _Copier(
        "chat_membership",
        [
            "id",
            "channel_id",
            "user_id",
            "role",
            "is_muted",
            "notification_level",
            "last_read_seq",
            "joined_at",
        ],
    )
    for channel_index, members in enumerate(members_of):
        last_seq = last_seq_of[channel_index]
        for position, uid in enumerate(members):
            # Most people are caught up; some are a little behind, a few far behind.
            draw = rng.random()
            if draw < 0.7:
                read = last_seq
            elif draw < 0.9:
                read = max(0, last_seq - rng.randint(1, 200))
            else:
                read = rng.randint(0, last_seq)
            memberships.rows.append(
                (
                    len(memberships.rows) + 1,
                    channel_index + 1,
                    uid,
                    "admin" if position == 0 else "member",
                    False,
                    "default",
                    read,
                    start,
                )
            )
    message_copier = _Copier(
        "chat_message",
        [
            "id",
            "channel_id",
            "seq",
            "version",
            "sender_id",
            "client_msg_id",
            "body",
            "html",
            "thread_root_id",
            "reply_count",
            "last_reply_at",
            "mentions_everyone",
            "created_at",
            "edited_at",
            "deleted_at",
        ],
    )
    for index in order:
        m = messages[index]
        message_copier.rows.append(
            (
                message_id[index],
                m[1] + 1,
                m[2],
                m[3],
                m[4],
                m[13],
                m[5],
                m[6],
                None if m[7] is None else message_id[m[7]],
                m[8],
                m[9],
                m[10],
                m[0],
                m[11],
                m[12],
            )
        )
    reaction_copier = _Copier(
        "chat_reaction", ("id", "message_id", "user_id", "emoji", "created_at")
    )
    seen: set[tuple[int, int, str]] = set()
    for target, uid, emoji, _seq in reactions:
        key = (message_id[target], uid, emoji)
        if key not in seen and messages[target][12] is None:
            seen.add(key)
            reaction_copier.rows.append((len(reaction_copier.rows) + 1, *key, messages[target][0]))
    mention_copier = _Copier("chat_mention", ("id", "message_id", "user_id"))
    for target, uid in set(mentions):
        mention_copier.rows.append((len(mention_copier.rows) + 1, message_id[target], uid))

    with psycopg.connect(conninfo) as conn:
        conn.execute(
            "TRUNCATE accounts_user, chat_channel, bench_reads_token, bench_reads_dataset "
            "RESTART IDENTITY CASCADE"
        )
        for copier in (
            users,
            tokens,
            channels,
            memberships,
            message_copier,
            reaction_copier,
            mention_copier,
        ):
            started = time.monotonic()
            copier.copy(conn)
            print(
                f"  {copier.table}: {len(copier.rows):,} rows in "
                f"{time.monotonic() - started:.1f} s",
                file=sys.stderr,
            )
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO bench_reads_token (user_id, raw_token) VALUES (%s, %s)", raw_tokens
            )
        conn.execute(
            "INSERT INTO bench_reads_dataset (id, spec) VALUES (1, %s)",
            [json.dumps(dataset_spec(args))],
        )
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return {
        "users": len(users.rows),
        "channels": len(channels.rows),
        "memberships": len(memberships.rows),
        "messages": len(message_copier.rows),
        "reactions": len(reaction_copier.rows),
        "mentions": len(mention_copier.rows),
    }


def prepare_dataset(args: argparse.Namespace, options: Options) -> dict[str, Any]:
    """Create, migrate, and build the data set unless the marker says it is there already."""
    _create_database(args.database_url)
    options.run_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    _migrate(options, options.run_dir / "migrate.log")
    conninfo = _psycopg_conninfo(args.database_url)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_reads_dataset ("
            " id integer PRIMARY KEY, spec jsonb NOT NULL,"
            " built_at timestamptz NOT NULL DEFAULT now())"
        )
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_reads_token ("
            " user_id bigint PRIMARY KEY, raw_token text NOT NULL)"
        )
        row = conn.execute("SELECT spec FROM bench_reads_dataset WHERE id = 1").fetchone()
        has_users = conn.execute("SELECT EXISTS (SELECT 1 FROM accounts_user)").fetchone()
    spec = dataset_spec(args)
    if row is not None and row[0] == spec and not args.fresh:
        return {"reused": True, "seconds": round(time.monotonic() - started, 1)}
    if row is None and has_users and has_users[0]:
        raise SystemExit(
            "the database has users but no bench_reads_dataset row: not a benchmark database. "
            "Point --database-url at a dedicated database."
        )
    print(f"building the data set in {args.database_url} ...", file=sys.stderr)
    setup_django(options)
    counts = build_dataset(conninfo, args)
    return {"reused": False, "seconds": round(time.monotonic() - started, 1), **counts}


# --- what the clients ask -------------------------------------------------------------------------


def request_targets(
    conninfo: str, endpoint: str, *, sample_users: int, seed: int, count: int = 20_000
) -> list[tuple[str, str]]:
    """(raw token, path) pairs for an endpoint, drawn over a sample of users.

    The sample holds every tenth user among the power users (100+ channels) in proportion.
    History requests go to channels the user is a member of, picked uniformly.
    """
    rng = random.Random(seed)
    with psycopg.connect(conninfo) as conn:
        tokens = dict(conn.execute("SELECT user_id, raw_token FROM bench_reads_token").fetchall())
        chosen = rng.sample(sorted(tokens), min(sample_users, len(tokens)))
        rows = conn.execute(
            "SELECT m.user_id, m.channel_id, c.last_seq FROM chat_membership m "
            "JOIN chat_channel c ON c.id = m.channel_id WHERE m.user_id = ANY(%s)",
            [chosen],
        ).fetchall()
    channels_of: dict[int, list[tuple[int, int]]] = {}
    for uid, channel_id, last_seq in rows:
        channels_of.setdefault(uid, []).append((channel_id, last_seq))
    targets = []
    for _ in range(count):
        uid = rng.choice(chosen)
        if endpoint in ("channels", "healthz"):
            path = "/api/v1/channels/" if endpoint == "channels" else "/healthz"
            targets.append((tokens[uid], path))
            continue
        if endpoint == "search":
            word = quote(rng.choice(SEARCH_WORDS))
            targets.append((tokens[uid], f"/api/v1/search/?q={word}"))
            continue
        if endpoint == "search_rare":
            targets.append((tokens[uid], f"/api/v1/search/?q={rng.randint(1, 5000)}"))
            continue
        channel_id, last_seq = rng.choice(channels_of[uid])
        path = f"/api/v1/channels/{channel_id}/messages/"
        if endpoint == "history_after":
            # A client catching up after a short disconnect: a few dozen changes behind.
            path += f"?after_seq={max(0, last_seq - rng.randint(1, 60))}"
        elif endpoint == "history_before":
            path += f"?before_seq={rng.randint(1, max(1, last_seq))}"
        targets.append((tokens[uid], path))
    return targets


# --- the client processes -------------------------------------------------------------------------


class _Closed(Exception):
    pass


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one HTTP/1.1 response; (status, whether the server keeps the connection)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        key, _sep, value = line.partition(":")
        headers[key.strip().lower()] = value.strip().lower()
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readline()).strip().split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        raise _Closed("response without length")
    return status, headers.get("connection") != "close"


async def _client_loop(
    port: int,
    targets: list[tuple[str, str]],
    offset: int,
    stop_at: float,
    latencies: list[float],
    statuses: Counter[str],
) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    position = offset
    while time.monotonic() < stop_at:
        token, path = targets[position % len(targets)]
        position += 1
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {token}\r\nAccept: application/json\r\n\r\n"
        ).encode()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert reader is not None
            sent = time.perf_counter()
            writer.write(request)
            status, keep = await asyncio.wait_for(_read_response(reader), timeout=30)
            latencies.append(time.perf_counter() - sent)
            statuses[str(status)] += 1
        except (TimeoutError, OSError, asyncio.IncompleteReadError, _Closed) as exc:
            statuses[type(exc).__name__] += 1
            keep = False
        if not keep and writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            writer = reader = None
    if writer is not None:
        writer.close()


def _generator_process(
    port: int,
    targets: list[tuple[str, str]],
    connections: int,
    first_offset: int,
    pipe: Connection,
) -> None:
    """One generator process: waits for (start, warmup, duration), then reports its results."""
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    while True:
        message = pipe.recv()
        if message is None:
            return
        warmup, duration = message

        async def run(seconds: float) -> tuple[list[float], Counter[str]]:
            latencies: list[float] = []
            statuses: Counter[str] = Counter()
            stop_at = time.monotonic() + seconds
            offsets = [first_offset + i * 997 for i in range(connections)]
            await asyncio.gather(
                *(_client_loop(port, targets, o, stop_at, latencies, statuses) for o in offsets)
            )
            return latencies, statuses

        if warmup > 0:
            asyncio.run(run(warmup))
        pipe.send("measuring")
        before = resource.getrusage(resource.RUSAGE_SELF)
        wall = time.monotonic()
        latencies, statuses = asyncio.run(run(duration))
        wall = time.monotonic() - wall
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        pipe.send((latencies, dict(statuses), cpu, wall))


# --- orchestration --------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Read-path benchmark of Enclave (history, channel list); JSON per endpoint."
    )
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--fresh", action="store_true", help="rebuild the data set")
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--channels", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--power-users", type=int, default=100, help="users in 100+ channels")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--servers", type=int, default=2)
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="daphne")
    parser.add_argument("--port", type=int, default=8200)
    parser.add_argument(
        "--server-env", action="append", default=[], metavar="KEY=VALUE", help="repeatable"
    )
    parser.add_argument(
        "--db-pool",
        type=int,
        default=0,
        metavar="SIZE",
        help="run the servers with a psycopg pool of SIZE connections per process (settings "
        "overlay in the run directory; 0: the production settings as they are)",
    )
    parser.add_argument(
        "--pg-options",
        default="",
        help='libpq "options" for the servers\' connections, e.g. "-c jit=off"',
    )
    parser.add_argument(
        "--overlay",
        action="append",
        default=[],
        metavar="PYTHON",
        help="a line appended to the settings overlay, for experiments (repeatable), e.g. "
        "'REST_FRAMEWORK[\"DEFAULT_THROTTLE_CLASSES\"] = []'",
    )
    parser.add_argument(
        "--shared-redis-cache",
        action="store_true",
        help="one Redis cache client per server process instead of one per request",
    )
    parser.add_argument(
        "--proposed-settings",
        action="store_true",
        help="the settings proposed in docs/performance.md (read paths): --db-pool 4, "
        '--pg-options "-c jit=off", --shared-redis-cache, prepared statements',
    )
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per endpoint")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring")
    parser.add_argument("--concurrency", type=int, default=16, help="keep-alive connections")
    parser.add_argument("--generators", type=int, default=1, help="client processes")
    parser.add_argument("--sample-users", type=int, default=500, help="users whose tokens load")
    parser.add_argument(
        "--changes-per-s",
        type=float,
        default=0.0,
        metavar="RATE",
        help="channel changes per second during each run (a reaction-like version bump of a "
        "recent message, weighted by channel size): what moves the history page cache's keys",
    )
    parser.add_argument(
        "--endpoints",
        default=",".join(ENDPOINTS),
        help=",".join(ENDPOINTS + EXTRA_ENDPOINTS) + f" (default {','.join(ENDPOINTS)})",
    )
    parser.add_argument(
        "--profile",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="py-spy the first server for SECONDS of each endpoint's run",
    )
    parser.add_argument("--run-dir", type=Path, default=None)
    parser.add_argument("--build-only", action="store_true", help="build the data set and stop")
    args = parser.parse_args(argv)
    if args.proposed_settings:
        args.db_pool = args.db_pool or 4
        args.pg_options = args.pg_options or "-c jit=off"
        args.shared_redis_cache = True
        args.overlay = [PREPARED_STATEMENTS_OVERLAY, *args.overlay]
    if args.shared_redis_cache:
        args.overlay = [SHARED_REDIS_CACHE_OVERLAY, *args.overlay]
    args.endpoints = [e for e in args.endpoints.split(",") if e]
    unknown = set(args.endpoints) - set(ENDPOINTS) - set(EXTRA_ENDPOINTS)
    if unknown:
        parser.error(f"unknown endpoints: {sorted(unknown)}")
    if args.run_dir is None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        args.run_dir = REPO_ROOT / "var" / "load" / f"reads-{stamp}"
    return args


# Django's RedisCache lives in per-request storage under ASGI: one connection per request.
SHARED_REDIS_CACHE_OVERLAY = """
from django.core.cache.backends.redis import RedisCache as _RedisCache
from django.utils.functional import cached_property as _cached_property

_SHARED_CLIENTS: dict = {}


class SharedRedisCache(_RedisCache):
    @_cached_property
    def _cache(self):
        key = (tuple(self._servers), repr(sorted(self._options.items())))
        return _SHARED_CLIENTS.setdefault(key, self._class(self._servers, **self._options))


CACHES["default"]["BACKEND"] = "bench_reads_settings.SharedRedisCache"
"""
PREPARED_STATEMENTS_OVERLAY = "_options.update(server_side_binding=True, prepare_threshold=5)"


def settings_overlay(args: argparse.Namespace) -> list[str]:
    """--server-env items for --db-pool/--pg-options: a settings module over production's.

    Under ASGI each request runs its synchronous part in a thread of its own, so a persistent
    connection (CONN_MAX_AGE) is never reused; a pool shared by the threads is (Django 5.1+).
    """
    if not args.db_pool and not args.pg_options and not args.overlay:
        return []
    lines = ["from config.settings.production import *  # noqa: F403", ""]
    lines.append('_options = DATABASES["default"].setdefault("OPTIONS", {})  # noqa: F405')
    if args.db_pool:
        lines.append('DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405')
        lines.append('DATABASES["default"]["CONN_HEALTH_CHECKS"] = False  # noqa: F405')
        pool = {"min_size": args.db_pool, "max_size": args.db_pool, "timeout": 10}
        lines.append(f'_options["pool"] = {pool!r}')
    if args.pg_options:
        lines.append(f'_options["options"] = {args.pg_options!r}')
    lines += args.overlay
    overlay_dir = args.run_dir / "settings"
    overlay_dir.mkdir(parents=True, exist_ok=True)
    (overlay_dir / "bench_reads_settings.py").write_text("\n".join(lines) + "\n")
    return [
        "DJANGO_SETTINGS_MODULE=bench_reads_settings",
        f"PYTHONPATH={overlay_dir}{os.pathsep}{REPO_ROOT}",
    ]


def harness_options(args: argparse.Namespace) -> Options:
    """The WebSocket harness's options for the same topology, to reuse its server functions."""
    argv = [
        "--database-url",
        args.database_url,
        "--redis-url",
        args.redis_url,
        "--servers",
        str(args.servers),
        "--server",
        args.server,
        "--port",
        str(args.port),
        "--run-dir",
        str(args.run_dir),
    ]
    for item in [*settings_overlay(args), *args.server_env]:
        argv += ["--server-env", item]
    return parse_options(argv)


def database_backend_pids(dbname: str) -> list[int]:
    """PostgreSQL backends serving `dbname` only: others' tests share this server."""
    import psutil

    marker = f" {dbname} "
    pids = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        if (proc.info.get("name") or "").startswith("postgres"):
            cmdline = " ".join(proc.info.get("cmdline") or [])
            if marker in f"{cmdline} ":
                pids.append(proc.pid)
    return pids


class ChannelChanges:
    """Changes of channels while an endpoint is measured (`--changes-per-s`), as writers make.

    Each change does what a reaction or an attachment verdict does to the history: in one
    transaction it takes the channel's next sequence value and gives it to one of the latest 50
    messages as its version. Channels are drawn in proportion to their messages (big channels
    change most). It moves every cache key of that channel, which is what a read-only run
    would hide. Its PostgreSQL backend counts in the "postgres" column.
    """

    def __init__(self, conninfo: str, per_second: float, seed: int) -> None:
        self.conninfo, self.per_second = conninfo, per_second
        self.rng = random.Random(seed)
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        if self.per_second > 0:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        with psycopg.connect(self.conninfo) as conn:
            rows = conn.execute(
                "SELECT channel_id, COUNT(*) FROM chat_message GROUP BY channel_id"
            ).fetchall()
            conn.commit()
            channel_ids, weights = [r[0] for r in rows], [r[1] for r in rows]
            interval, due = 1.0 / self.per_second, time.monotonic()
            while not self._stop.is_set():
                channel_id = self.rng.choices(channel_ids, weights)[0]
                with conn.transaction():
                    row = conn.execute(
                        "UPDATE chat_channel SET last_seq = last_seq + 1 WHERE id = %s "
                        "RETURNING last_seq",
                        [channel_id],
                    ).fetchone()
                    conn.execute(
                        "UPDATE chat_message SET version = %s WHERE id = (SELECT id FROM "
                        "chat_message WHERE channel_id = %s ORDER BY seq DESC LIMIT 1 OFFSET %s)",
                        [row[0] if row else 0, channel_id, self.rng.randrange(50)],
                    )
                self.count += 1
                due += interval
                self._stop.wait(max(0.0, due - time.monotonic()))


def measure_endpoint(
    args: argparse.Namespace,
    endpoint: str,
    topology: servers.Topology,
    conninfo: str,
) -> dict[str, Any]:
    targets = request_targets(
        conninfo, endpoint, sample_users=args.sample_users, seed=args.seed + len(endpoint)
    )
    per_process = [args.concurrency // args.generators] * args.generators
    for index in range(args.concurrency % args.generators):
        per_process[index] += 1
    dbname = urlparse(args.database_url).path.lstrip("/")
    context = multiprocessing.get_context("spawn")
    pipes: list[Connection] = []
    processes = []
    for index, connections in enumerate(per_process):
        parent, child = context.Pipe()
        process = context.Process(
            target=_generator_process,
            args=(args.port, targets, connections, index * 7919, child),
            daemon=True,
        )
        process.start()
        pipes.append(parent)
        processes.append(process)
    sampler = servers.ResourceSampler(
        {
            "servers": topology.pids,
            "postgres": lambda: database_backend_pids(dbname),
            "redis": lambda: servers.service_pids()["redis"],
            "generator": [p.pid for p in processes if p.pid is not None],
            servers.MACHINE: [],
        }
    )
    sampler.start()
    changes = ChannelChanges(conninfo, args.changes_per_s, args.seed)
    try:
        changes.start()
        for pipe in pipes:
            pipe.send((args.warmup, args.duration))
        for pipe in pipes:
            pipe.recv()
        sampler.mark("start")
        recording = None
        if args.profile > 0:
            recording = profile.DelayedRecording(
                topology.pids[0],
                min(args.profile, args.duration),
                args.run_dir / f"profile-{endpoint}.txt",
                delay=0.5,
            )
            recording.start()
        results = [pipe.recv() for pipe in pipes]
        sampler.mark("end")
        profiled = recording.wait() if recording is not None else None
    finally:
        changes.stop()
        sampler.stop()
        for pipe in pipes:
            with contextlib.suppress(OSError):
                pipe.send(None)
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
    latencies = [value for result in results for value in result[0]]
    statuses: Counter[str] = Counter()
    for result in results:
        statuses.update(result[1])
    wall = max(result[3] for result in results)
    ok = statuses.get("200", 0)
    cpu = sampler.cpu_between("start", "end")
    summary: dict[str, Any] = {
        "endpoint": endpoint,
        "example_path": targets[0][1],
        "server": args.server,
        "servers": args.servers,
        "db_pool": args.db_pool,
        "pg_options": args.pg_options,
        "overlay": args.overlay,
        "concurrency": args.concurrency,
        "channel_changes_per_s": round(changes.count / wall, 1) if wall else 0.0,
        "duration_s": round(wall, 1),
        "requests_per_s": round(ok / wall, 1) if wall else 0.0,
        "latency": latency_summary(latencies),
        "errors": sum(n for status, n in statuses.items() if status != "200"),
        "statuses": dict(statuses),
        "cpu_pct": {
            "servers": cpu["servers"],
            "postgres": cpu["postgres"],
            "redis": cpu["redis"],
            "generator": cpu["generator"],
            "generator_self_reported": round(100 * sum(r[2] for r in results) / wall, 1),
            "machine": cpu[servers.MACHINE],
            "other": round(
                cpu[servers.MACHINE]
                - cpu["servers"]
                - cpu["postgres"]
                - cpu["redis"]
                - cpu["generator"],
                1,
            ),
        },
        "nproc": os.cpu_count(),
    }
    # CPU milliseconds per answered request: unlike req/s, barely moved by other work on the
    # box; nproc * 1000 / total is the rate the same work would reach on an idle machine.
    if ok:
        per_request = {
            group: round(10.0 * cpu[group] * wall / ok, 2)
            for group in ("servers", "postgres", "redis", "generator")
        }
        total = sum(per_request.values())
        summary["cpu_ms_per_request"] = {**per_request, "total": round(total, 2)}
        summary["idle_box_requests_per_s_estimate"] = (
            round((os.cpu_count() or 1) * 1000.0 / total, 1) if total else None
        )
    if profiled is not None:
        summary["profile"] = {
            key: profiled.get(key)
            for key in ("raw_stacks", "samples", "categories_pct", "top_inclusive_pct")
        }
    return summary


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    options = harness_options(args)
    prepared = prepare_dataset(args, options)
    print(json.dumps({"dataset": prepared, "database": args.database_url}), flush=True)
    if args.build_only:
        return 0
    conninfo = _psycopg_conninfo(args.database_url)
    topology = servers.start(options)
    try:
        for endpoint in args.endpoints:
            summary = measure_endpoint(args, endpoint, topology, conninfo)
            print(json.dumps(summary, ensure_ascii=False), flush=True)
    finally:
        topology.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
