"""What PostgreSQL spends on one search: `EXPLAIN ANALYZE` of the search statement.

Issue "Performance". The HTTP benchmark (`bench_reads.py`) gives a search's CPU in the
servers and in PostgreSQL together. This script isolates the statement: it builds it exactly
as `apps.search.selectors` does (the same SQL text, scope and query text) for sampled (user,
query) pairs of `bench_reads.py`'s data set and prints PostgreSQL's own planning and
execution times, in three groups: a common word (`bench_reads.SEARCH_WORDS`, each in 1/16 of
the messages: the walk down the newest messages), a rare term (a message number: the GIN
index) and the "power users" in 100+ channels. Run it after `bench_reads.py` has built the
data set, on a quiet box:

    PYTHONPATH=. .venv/bin/python tests/load/search_plans.py [--users 60] [--rounds 2]

Prints one JSON object per group; each round runs every pair once, and only the last round is
counted (the first warms the cache).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
from typing import Any

import psycopg

from tests.load.bench_reads import DEFAULT_DATABASE_URL, SEARCH_WORDS
from tests.load.harness.dataset import _psycopg_conninfo
from tests.load.harness.stats import latency_summary

POWER_USER_CHANNELS = 100


def _statement() -> str:
    """The member-scoped search statement with psycopg placeholders, as the selector sends it."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    from apps.chat.models import Membership
    from apps.chat.queries import rows_select
    from apps.search import queries

    return queries._SEARCH_SQL.format(
        select=rows_select(),
        scope=queries._MEMBER_SCOPE.format(membership=Membership._meta.db_table),
    )


def _sample(conn: psycopg.Connection[Any], users: int, rng: random.Random) -> list[tuple[int, int]]:
    """(user id, channel count) of `users` random users and of the users in the most channels."""
    ordinary = conn.execute(
        "SELECT user_id, count(*) FROM chat_membership GROUP BY user_id "
        "HAVING count(*) < %s ORDER BY user_id",
        [POWER_USER_CHANNELS],
    ).fetchall()
    power = conn.execute(
        "SELECT user_id, count(*) FROM chat_membership GROUP BY user_id "
        "ORDER BY count(*) DESC, user_id LIMIT %s",
        [max(1, users // 20)],
    ).fetchall()
    return rng.sample(ordinary, min(users, len(ordinary))) + list(power)


def _summary(group: str, timings: list[tuple[float, float]]) -> dict[str, Any]:
    """Mean planning time, and the execution times as the harness summarizes latencies."""
    return {
        "group": group,
        "planning_ms_mean": round(statistics.mean(p for p, _ in timings), 3),
        "execution": latency_summary(e / 1000.0 for _, e in timings),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--users", type=int, default=60, help="ordinary users sampled")
    parser.add_argument("--rare", type=int, default=4, help="message numbers searched")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    sql = "EXPLAIN (ANALYZE, FORMAT JSON) " + _statement()  # sets Django up
    from apps.search.selectors import query_text

    rng = random.Random(args.seed)
    conn = psycopg.connect(_psycopg_conninfo(args.database_url), autocommit=True)
    users = _sample(conn, args.users, rng)
    queries = [(word, "common") for word in SEARCH_WORDS]
    queries += [(str(rng.randint(1, 5000)), "rare") for _ in range(args.rare)]
    groups: dict[str, list[tuple[float, float]]] = {}
    for _ in range(args.rounds):
        groups = {}
        for user_id, channels in users:
            for query, kind in queries:
                text = query_text(query)
                group = "power" if channels >= POWER_USER_CHANNELS else kind
                [[[plan]]] = conn.execute(sql, [text, text, user_id, 2**63 - 1, 21]).fetchall()
                groups.setdefault(group, []).append((plan["Planning Time"], plan["Execution Time"]))
    for group, timings in groups.items():
        print(json.dumps(_summary(group, timings)))


if __name__ == "__main__":
    main()
