"""PostgreSQL inspection helpers for tests marked `postgres`."""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction


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


def generic_plan(sql: str, params: list[Any]) -> str:
    """PostgreSQL's generic plan of a statement with `%s` placeholders, as EXPLAIN prints it:
    the plan a statement we prepare (apps/core/sqlrows.prepared_cursor) keeps for as long as
    its connection lives, whatever the tables held when it was made."""
    numbered = sql
    for index in range(1, len(params) + 1):
        numbered = numbered.replace("%s", f"${index}", 1)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute(f"PREPARE enclave_plan_probe AS {numbered}")
        try:
            placeholders = ", ".join(["%s"] * len(params))
            cursor.execute(f"EXPLAIN EXECUTE enclave_plan_probe({placeholders})", params)
            return "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("DEALLOCATE enclave_plan_probe")
