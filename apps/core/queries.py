"""The hand-written SQL of `apps/core`: the database probe of the health checks.

See apps/chat/queries.py for the conventions (every hand-written statement of an app lives in
its `queries.py`; tests/core/test_raw_sql_boundary.py keeps it so).
"""

from __future__ import annotations

from django.db import connection


def database_ping() -> None:
    """Send `SELECT 1` on this thread's connection (opening it if needed); raises the driver's
    error, wrapped by Django, if the database does not answer.

    Both databases. SQL because it is the smallest statement a database answers, with no
    table: the ORM has no query without a model.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
