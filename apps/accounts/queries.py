"""Every hand-written SQL statement of the accounts app, each in a named, documented function.

See apps/chat/queries.py for the conventions; `tests/accounts/test_queries.py` holds each one
equal to its ORM meaning.
"""

from __future__ import annotations

from typing import Any

from django.db import connection

from apps.accounts.models import APIToken, User
from apps.core.runtime.sqlrows import prepared_cursor, select_list

_LOOKUP_SQL = """
SELECT {token_columns}, {user_columns}
FROM {token} t JOIN {user} u ON u.id = t.user_id
WHERE t.digest = %s AND t.revoked_at IS NULL
"""


def unrevoked_token_rows(*, digest: str) -> list[tuple[Any, ...]]:
    """The unrevoked token with this digest and its user: at most one row (the digest is
    unique) of the token's `select_list` then the user's, for `sqlrows.instances`. Expired
    tokens and inactive users are returned too: the caller decides.

    Both databases; prepared on PostgreSQL (planned once per connection: planning it took
    0.22 ms a request under load). SQL because it runs on every REST request with a token and
    every handshake, and the ORM spent more CPU building the query (~0.45 ms) than the
    database answering it.
    """
    sql = _LOOKUP_SQL.format(
        token_columns=select_list(APIToken, "t"),
        user_columns=select_list(User, "u"),
        token=APIToken._meta.db_table,
        user=User._meta.db_table,
    )
    with prepared_cursor() as cursor:
        cursor.execute(sql, [digest])
        return list(cursor.fetchall())


def commit_without_waiting_for_disk() -> None:
    """Make the current transaction's COMMIT asynchronous (`synchronous_commit` off for this
    transaction only): a crash may forget its last fraction of a second, nothing else.

    PostgreSQL only (a no-op elsewhere). Precondition: inside `transaction.atomic`. SQL
    because it is a setting, which the ORM cannot express.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
