"""PostgreSQL inspection helpers for tests marked `postgres`."""

from __future__ import annotations

from django.db import connection


def prepared_statement_runs(statement_like: str) -> list[int]:
    """Executions of each of this connection's prepared statements whose text is LIKE the
    pattern (one statement per parameter-type combination psycopg prepared)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans + custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE %s",
            [statement_like],
        )
        return [count for (count,) in cursor.fetchall()]
