"""The data set: users, API tokens, rooms and memberships, bulk-inserted into PostgreSQL.

The harness owns its database (default `enclave_load`). A prepared scenario is remembered in
`load_harness_scenario`, and the raw tokens (the application stores only digests) in
`load_harness_token`, so a rerun of the same scenario starts in a second.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import psycopg
from psycopg import sql

from tests.load.harness.options import REPO_ROOT, Options

BATCH_SIZE = 5000
USERNAME_PREFIX = "load"
# Room kinds as the traffic mix sees them.
DM, TEAM, BIG = "dm", "team", "big"


@dataclass(frozen=True, slots=True)
class Room:
    id: int
    kind: str  # DM, TEAM or BIG
    member_ids: tuple[int, ...]


@dataclass(frozen=True)
class Dataset:
    users: list[tuple[int, str]]  # (user id, raw API token), ordered by id
    rooms: dict[int, Room]
    reused: bool
    prepare_seconds: float


def server_environment(options: Options, *, redis_url: str | None = None) -> dict[str, str]:
    """Environment of the production settings against the load database and Redis."""
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "load-harness-not-secret-" + "x" * 40,
        "ENCLAVE_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "ENCLAVE_SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": options.database_url,
        "REDIS_URL": redis_url or options.redis_url,
        "ENCLAVE_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(REPO_ROOT),
    }


def _psycopg_conninfo(database_url: str, *, dbname: str | None = None) -> str:
    parsed = urlparse(database_url)
    scheme = "postgresql" if parsed.scheme in ("postgres", "postgresql", "pgsql") else parsed.scheme
    path = f"/{dbname}" if dbname is not None else parsed.path
    return urlunparse(parsed._replace(scheme=scheme, path=path))


def _create_database(database_url: str) -> None:
    name = urlparse(database_url).path.lstrip("/")
    if not name:
        raise SystemExit("--database-url needs a database name")
    # A deployed server admits its role to its own database only (pg_hba), not to `postgres`.
    with (
        contextlib.suppress(psycopg.OperationalError),
        psycopg.connect(_psycopg_conninfo(database_url)),
    ):
        return
    with psycopg.connect(
        _psycopg_conninfo(database_url, dbname="postgres"), autocommit=True
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


# What the summary reports of the PostgreSQL server the run used.
REPORTED_POSTGRES_SETTINGS = (
    "synchronous_commit",
    "wal_compression",
    "full_page_writes",
    "checkpoint_timeout",
    "max_wal_size",
    "shared_buffers",
)


def postgres_settings(options: Options) -> dict[str, str]:
    """Apply `--postgres-setting NAME=VALUE` (ALTER SYSTEM + reload: the server keeps them) and
    return the settings that shape write latency, as the server reports them."""
    with psycopg.connect(_psycopg_conninfo(options.database_url), autocommit=True) as conn:
        for name, value in options.postgres_settings:
            conn.execute(
                sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value))
            )
        if options.postgres_settings:
            conn.execute("SELECT pg_reload_conf()")
            time.sleep(0.5)
        return {
            name: str(conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()[0])  # type: ignore[index]
            for name in REPORTED_POSTGRES_SETTINGS
        }


def _migrate(options: Options, log_path: Path) -> None:
    env = {**os.environ, **server_environment(options)}
    with log_path.open("w") as log:
        result = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if result.returncode != 0:
        raise SystemExit(f"manage.py migrate failed; see {log_path}")


def setup_django(options: Options) -> None:
    """Configure Django in this process (production settings, load database) for the ORM."""
    os.environ.update(server_environment(options))
    import django

    django.setup()


def prepare(options: Options) -> Dataset:
    """Create and migrate the database, then reuse or build the scenario's data set."""
    started = time.monotonic()
    options.run_dir.mkdir(parents=True, exist_ok=True)
    _create_database(options.database_url)
    _migrate(options, options.run_dir / "migrate.log")
    setup_django(options)

    from django.db import connection

    scenario = options.scenario()
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS load_harness_scenario ("
            " id integer PRIMARY KEY, scenario jsonb NOT NULL,"
            " created_at timestamptz NOT NULL DEFAULT now())"
        )
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS load_harness_token ("
            " user_id bigint PRIMARY KEY, raw_token text NOT NULL)"
        )
        cursor.execute("SELECT scenario FROM load_harness_scenario WHERE id = 1")
        row = cursor.fetchone()
    stored = row[0] if row else None
    if isinstance(stored, str):
        stored = json.loads(stored)
    reused = stored == scenario and not options.fresh
    if not reused:
        if not options.share_database:
            _refuse_foreign_data(had_scenario=row is not None)
        elif row is not None:
            raise SystemExit(
                "--share-database: another data set is already in this database, and a shared "
                "database is never emptied; use a fresh deployment"
            )
        _build(options, scenario)
    users, rooms = _load()
    if len(users) != options.users:
        raise SystemExit(f"data set has {len(users)} users, expected {options.users}; use --fresh")
    return Dataset(
        users=users, rooms=rooms, reused=reused, prepare_seconds=time.monotonic() - started
    )


def _refuse_foreign_data(*, had_scenario: bool) -> None:
    """Never wipe a database the harness did not fill itself."""
    from apps.accounts.models import User

    if not had_scenario and User.objects.exists():
        raise SystemExit(
            "the database has users but no load_harness_scenario table row: not a load "
            "database. Point --database-url at a dedicated database."
        )


def _build(options: Options, scenario: dict[str, Any]) -> None:
    from django.contrib.auth.hashers import make_password
    from django.db import connection, transaction

    from apps.accounts.models import APIToken, User
    from apps.accounts.tokens import token_digest, token_generate
    from apps.chat.models import Channel, ChannelKind, ChannelRole, Membership

    rng = random.Random(options.seed)
    with transaction.atomic():
        if not options.share_database:
            with connection.cursor() as cursor:
                # CASCADE empties everything pointing at users or channels (messages, tokens...).
                cursor.execute(
                    "TRUNCATE accounts_user, chat_channel, load_harness_token, "
                    "load_harness_scenario RESTART IDENTITY CASCADE"
                )
        users = User.objects.bulk_create(
            [
                User(
                    username=f"{USERNAME_PREFIX}{index:06d}",
                    email=f"{USERNAME_PREFIX}{index:06d}@load.invalid",
                    display_name=f"Load {index}",
                    password=make_password(None),
                )
                for index in range(1, options.users + 1)
            ],
            batch_size=BATCH_SIZE,
        )
        user_ids = [user.pk for user in users]
        raw_tokens = [token_generate() for _ in user_ids]
        APIToken.objects.bulk_create(
            [
                APIToken(
                    user_id=uid, name="load harness", prefix=raw[:12], digest=token_digest(raw)
                )
                for uid, raw in zip(user_ids, raw_tokens, strict=True)
            ],
            batch_size=BATCH_SIZE,
        )
        with connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO load_harness_token (user_id, raw_token) VALUES (%s, %s)",
                list(zip(user_ids, raw_tokens, strict=True)),
            )

        # (kind, name, dm_key, member ids)
        planned: list[tuple[str, str, str | None, list[int]]] = []
        layers = 1 if options.mix else options.rooms_per_user
        for layer in range(layers):
            for index, members in enumerate(_partition(user_ids, options.room_size, rng)):
                planned.append((TEAM, f"load-team-{layer}-{index}", None, members))
        if options.mix:
            pairs: set[tuple[int, int]] = set()
            for uid in user_ids:
                for _ in range(options.dms_per_user):
                    other = rng.choice(user_ids)
                    if other != uid:
                        pairs.add((min(uid, other), max(uid, other)))
            for low, high in sorted(pairs):
                planned.append((DM, "", f"{low},{high}", [low, high]))
            size = min(options.big_channel_size, len(user_ids))
            for index in range(options.big_channels):
                planned.append((BIG, f"load-big-{index}", None, rng.sample(user_ids, size)))

        kind_of = {TEAM: ChannelKind.PRIVATE, DM: ChannelKind.DIRECT, BIG: ChannelKind.PUBLIC}
        channels = Channel.objects.bulk_create(
            [
                Channel(kind=kind_of[kind], name=name, dm_key=dm_key, created_by_id=members[0])
                for kind, name, dm_key, members in planned
            ],
            batch_size=BATCH_SIZE,
        )
        Membership.objects.bulk_create(
            [
                Membership(
                    channel_id=channel.pk,
                    user_id=uid,
                    role=ChannelRole.ADMIN if position == 0 else ChannelRole.MEMBER,
                )
                for channel, (_kind, _name, _key, members) in zip(channels, planned, strict=True)
                for position, uid in enumerate(members)
            ],
            batch_size=BATCH_SIZE,
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO load_harness_scenario (id, scenario) VALUES (1, %s)",
                [json.dumps(scenario)],
            )
        # Statistics for the tables filled above, and only those: a customer's message tables
        # are never analyzed empty at their peak. (The send batch's prepared look-ups do not
        # depend on it any more: see `_STORED_IDS_SQL` in apps/chat/queries.py.)
        with connection.cursor() as cursor:
            for model in (User, APIToken, Channel, Membership):
                cursor.execute(f"ANALYZE {model._meta.db_table}")
            cursor.execute("ANALYZE load_harness_token")


def _partition(user_ids: list[int], size: int, rng: random.Random) -> list[list[int]]:
    """Shuffle users into rooms of `size`; a too-small remainder joins the last room."""
    shuffled = list(user_ids)
    rng.shuffle(shuffled)
    rooms = [shuffled[start : start + size] for start in range(0, len(shuffled), size)]
    if len(rooms) > 1 and len(rooms[-1]) < 2:
        rooms[-2].extend(rooms.pop())
    return rooms


def _load() -> tuple[list[tuple[int, str]], dict[int, Room]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT u.id, t.raw_token FROM accounts_user u "
            "JOIN load_harness_token t ON t.user_id = u.id "
            "WHERE u.username LIKE %s AND u.is_active ORDER BY u.id",
            [USERNAME_PREFIX + "%"],
        )
        users = [(int(uid), str(raw)) for uid, raw in cursor.fetchall()]
        cursor.execute(
            "SELECT c.id, c.kind, c.name, array_agg(m.user_id ORDER BY m.id) "
            "FROM chat_channel c JOIN chat_membership m ON m.channel_id = c.id "
            "WHERE NOT c.is_archived GROUP BY c.id ORDER BY c.id"
        )
        rooms: dict[int, Room] = {}
        load_user_ids = {uid for uid, _raw in users}
        for channel_id, kind, name, members in cursor.fetchall():
            if not load_user_ids.issuperset(members):
                continue  # a shared database's own channels (--share-database)
            if kind in ("direct", "group"):
                room_kind = DM
            elif str(name).startswith("load-big-"):
                room_kind = BIG
            else:
                room_kind = TEAM
            rooms[int(channel_id)] = Room(int(channel_id), room_kind, tuple(members))
    return users, rooms


def channel_seq_snapshot(channel_ids: list[int]) -> dict[int, int]:
    """Each channel's last_seq now (taken before the send phase, for the density audit)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, last_seq FROM chat_channel WHERE id = ANY(%s)", [list(channel_ids)]
        )
        return {int(cid): int(seq) for cid, seq in cursor.fetchall()}
