"""Every hand-written SQL statement of the search app, each in a named, documented function.

PostgreSQL only, all of them: full-text search over the generated column
`chat_message.search_vector` and the expression index on attachment names (migrations
search/0001 and files/0002, which keep frozen copies of the document side). The embedded
SQLite mode searches through the ORM instead (`selectors._ids_substring`). Why SQL: the
planner needs the statement as written here (`m.channel_id + 0`, the timeout in the same
query string), and the ORM's full-text lookups need `django.contrib.postgres`, which is not
installed. `tests/search/test_queries.py` holds each function equal to its ORM meaning (the
same messages as `SearchVector`/`SearchQuery` over the same function, on PostgreSQL).
See apps/chat/queries.py for the conventions.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils.translation import gettext_lazy
from psycopg.errors import QueryCanceled

from apps.chat.attachments import attachment_store
from apps.chat.models import Membership, Mention, Message
from apps.chat.queries import MessageRow, rows_of, rows_select
from apps.core.errors import DomainError
from apps.search.filters import LINK_MARKERS, SearchFilters


class SearchTimeout(DomainError):
    code = "search_timeout"
    http_status = 503
    default_message = gettext_lazy("The search took too long. Try more specific words.")


# The document side (the function `enclave_search_vector`, the stored column `search_vector` and
# its GIN index) is created by migrations/0001_message_search_index.py, which keeps its own frozen
# copy of the SQL: keep `query_text` in step with it, and change it by a new migration.
_SEARCH_SQL = """
    {select}
    WHERE {match} AND m.deleted_at IS NULL AND {scope} AND m.id < %s{filters}
    ORDER BY m.id DESC LIMIT %s
"""
_TEXT_MATCH = (
    "m.search_vector @@ plainto_tsquery('english'::regconfig, %s)"
    " AND numnode(plainto_tsquery('english'::regconfig, %s)) > 0"
)
# Messages by the names of their clean files: the same vector of the name with its dots,
# dashes and underscores read as spaces ("q3-budget.pdf" holds "q3", "budget" and "pdf"),
# under the expression index of files/migrations/0002 (keep the expression equal to it).
_FILE_NAME_VECTOR = "enclave_search_vector(translate(a.original_name, '._-', '   '))"
_FILE_NAME_SQL = """
    SELECT a.message_id FROM {attachments} a JOIN {messages} m ON m.id = a.message_id
    WHERE {vector} @@ plainto_tsquery('english'::regconfig, %s)
        AND numnode(plainto_tsquery('english'::regconfig, %s)) > 0
        AND a.message_id IS NOT NULL AND a.deleted_at IS NULL AND a.status = 'clean'
        AND m.deleted_at IS NULL AND {scope} AND m.id < %s{filters}
    ORDER BY a.message_id DESC LIMIT %s
"""
# `+ 0`: no index on channel_id for this test. Otherwise the planner, misjudging how many
# messages a big channel holds, ANDs the word's index scan with a scan of each channel's
# messages, once per membership (59 ms for a rare word; 1.6 ms without, on 1M messages).
_MEMBER_SCOPE = "m.channel_id + 0 IN (SELECT channel_id FROM {membership} WHERE user_id = %s)"
_CHANNEL_SCOPE = "m.channel_id = %s"


def filters_sql(filters: SearchFilters) -> tuple[str, list[Any]]:
    """The filters as ` AND ...` conditions on the message `m` (empty when there are none),
    and their parameters; `SearchFilters.q()` is the same as a `Q` (a test compares them)."""
    parts: list[str] = []
    params: list[Any] = []
    if filters.impossible:
        parts.append("FALSE")
    if filters.sender_ids:
        parts.append(f"m.sender_id IN ({', '.join(['%s'] * len(filters.sender_ids))})")
        params.extend(filters.sender_ids)
    if filters.channel_ids:
        parts.append(f"m.channel_id IN ({', '.join(['%s'] * len(filters.channel_ids))})")
        params.extend(filters.channel_ids)
    if filters.has_file:
        parts.append(
            f"EXISTS (SELECT 1 FROM {attachment_store().table()} a "  # noqa: S608 - model name
            "WHERE a.message_id = m.id AND a.deleted_at IS NULL)"
        )
    if filters.has_link:
        parts.append("(" + " OR ".join(["strpos(m.body, %s) > 0"] * len(LINK_MARKERS)) + ")")
        params.extend(LINK_MARKERS)
    if filters.is_thread:
        parts.append("(m.thread_root_id IS NOT NULL OR m.reply_count > 0)")
    if filters.mentions_user_id is not None:
        parts.append(
            f"(m.mentions_everyone OR EXISTS (SELECT 1 FROM {Mention._meta.db_table} x "  # noqa: S608
            "WHERE x.message_id = m.id AND x.user_id = %s))"
        )
        params.append(filters.mentions_user_id)
    if filters.before is not None:
        parts.append("m.created_at < %s")
        params.append(filters.before)
    if filters.after is not None:
        parts.append("m.created_at >= %s")
        params.append(filters.after)
    return "".join(f" AND {part}" for part in parts), params


def _scope(*, user_id: int, channel_id: int | None) -> tuple[str, list[Any]]:
    """The messages a search may find: one channel's, or those of the user's channels."""
    if channel_id is not None:
        return _CHANNEL_SCOPE, [channel_id]
    return _MEMBER_SCOPE.format(membership=Membership._meta.db_table), [user_id]


def search_message_rows(
    *,
    user_id: int,
    channel_id: int | None,
    text: str | None,
    filters: SearchFilters,
    before_id: int,
    limit: int,
) -> list[MessageRow]:
    """The newest `limit` live messages with id < `before_id`, in the scope (`channel_id`, or
    the channels `user_id` is a member of), passing `filters` and, unless `text` is None,
    matching `text` (the query side as `selectors.query_text` builds it) in their
    `search_vector`; newest first.

    PostgreSQL only; cancelled after `ENCLAVE_SEARCH_TIMEOUT_MS` (SearchTimeout). The
    caller checked that the user may read the channel.
    """
    scope, scope_params = _scope(user_id=user_id, channel_id=channel_id)
    where, filter_params = filters_sql(filters)
    if text is None:  # filters alone: the newest messages that pass them
        sql = _SEARCH_SQL.format(select=rows_select(), match="TRUE", scope=scope, filters=where)
        return rows_of(_run(sql, [*scope_params, before_id, *filter_params, limit]))
    sql = _SEARCH_SQL.format(select=rows_select(), match=_TEXT_MATCH, scope=scope, filters=where)
    return rows_of(_run(sql, [text, text, *scope_params, before_id, *filter_params, limit]))


def message_ids_by_file_name(
    *,
    user_id: int,
    channel_id: int | None,
    name_text: str,
    filters: SearchFilters,
    before_id: int,
    limit: int,
) -> list[int]:
    """Ids of the newest `limit` live messages with id < `before_id`, in the scope, passing
    `filters`, with a clean, attached file whose name's vector matches `name_text` (the query
    side of the name with `._-` read as spaces); newest first, an id once per file.

    PostgreSQL only, under the expression index of files/migrations/0002 (keep
    `_FILE_NAME_VECTOR` equal to it); cancelled like `search_message_rows`.
    """
    scope, scope_params = _scope(user_id=user_id, channel_id=channel_id)
    where, filter_params = filters_sql(filters)
    sql = _FILE_NAME_SQL.format(
        attachments=attachment_store().table(),
        messages=Message._meta.db_table,
        vector=_FILE_NAME_VECTOR,
        scope=scope,
        filters=where,
    )
    params = [name_text, name_text, *scope_params, before_id, *filter_params, limit]
    return [message_id for (message_id,) in _run(sql, params)]


def _run(sql: str, params: list[Any]) -> list[Any]:
    """Fetch `sql` under the search timeout (SearchTimeout, 503, when it runs longer)."""
    timeout = str(settings.ENCLAVE_SEARCH_TIMEOUT_MS)
    try:
        # One round trip: the timeout and the search travel as one simple-protocol query
        # string (client-side binding), which PostgreSQL runs as one implicit transaction, so
        # the local setting covers the search and ends with it: no BEGIN and COMMIT of our own.
        # Inside a transaction, a savepoint keeps a cancelled search from breaking it.
        savepoint = transaction.atomic() if connection.in_atomic_block else nullcontext()
        with savepoint, connection.cursor() as cursor:
            cursor.execute(_TIMEOUT_SQL + sql, [timeout, *params])
            cursor.nextset()
            return list(cursor.fetchall())
    except OperationalError as error:
        if not isinstance(error.__cause__, QueryCanceled):
            raise
        raise SearchTimeout() from error


_TIMEOUT_SQL = "SELECT set_config('statement_timeout', %s, true);\n"
