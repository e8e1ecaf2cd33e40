"""Message search, for Chinese, Japanese and Korean as well as English.

CJK text has no spaces between words, so a word-based full-text index sees a whole sentence
as one token and cannot find a word inside it. Like Elasticsearch's CJK analyzer, Enclave
indexes CJK text as character n-grams: every character on its own and every two adjacent
ones. A query's CJK run is looked up by its bigrams (all of them must be there), a single
character by itself; everything else (Latin script, digits) goes through PostgreSQL's
`english` configuration, so "meetings" finds "meeting".

On PostgreSQL the document side is the function `enclave_search_vector(body)`, stored in the
generated column `chat_message.search_vector` under a GIN index (migrations/0001): every way
a message is written (the send batch's one statement, the ORM, an edit, a deletion that
clears the body, a bulk load) keeps it current without code of its own. The planner picks
the index for a rare word and a walk down the newest messages for a common one; a search
that still runs longer than `ENCLAVE_SEARCH_TIMEOUT_MS` is cancelled (503 `search_timeout`).
`query_text` builds the query side in Python the same way. Elsewhere (the embedded SQLite
default) a search is a substring match per term: fine for a demo's few thousand messages.

A user finds only what they may read: messages of the channels they are a member of, or of
one channel they may read (`channel_id`, a public channel included). Deleted messages are
never found. Results come newest first, a page at a time (`before_id`).
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from psycopg.errors import QueryCanceled

from apps.accounts.models import User
from apps.chat import events
from apps.chat.attachments import attachment_store
from apps.chat.models import Membership, Message
from apps.chat.permissions import access_channel_read_position, access_search
from apps.chat.selectors import MessageRow, load_rows, payloads, rows_of, rows_select
from apps.core.cjk import CJK_RUN as _CJK_RUN  # shared with the help desk
from apps.core.cjk import query_grams
from apps.core.errors import DomainError, InvalidInput
from apps.core.features import feature_enabled
from apps.search.filters import FLAG as FILTERS_FLAG
from apps.search.filters import ParsedQuery, SearchFilters, parse_query

MAX_QUERY_CHARS = 200
DEFAULT_LIMIT = 20
MAX_LIMIT = 100

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
_FILE_NAME_SEPARATORS = str.maketrans("._-", "   ")
# `+ 0`: no index on channel_id for this test. Otherwise the planner, misjudging how many
# messages a big channel holds, ANDs the word's index scan with a scan of each channel's
# messages, once per membership (59 ms for a rare word; 1.6 ms without, on 1M messages).
_MEMBER_SCOPE = "m.channel_id + 0 IN (SELECT channel_id FROM {membership} WHERE user_id = %s)"
_CHANNEL_SCOPE = "m.channel_id = %s"
_NO_CURSOR = 2**63 - 1


def query_text(query: str) -> str:
    """The text `plainto_tsquery` gets for a user's query: non-CJK text as typed, each CJK
    run as its bigrams (a lone character as itself), as the index holds them."""
    grams: list[str] = []
    for run in _CJK_RUN.findall(query):
        grams.extend(query_grams(run))
    return " ".join([_CJK_RUN.sub(" ", query).strip(), *grams]).strip()


def _terms(query: str) -> list[str]:
    """Substring terms for the fallback: whitespace-separated words, CJK runs on their own."""
    return [term for term in _CJK_RUN.sub(lambda m: f" {m.group(0)} ", query).split() if term]


class SearchTimeout(DomainError):
    code = "search_timeout"
    http_status = 503
    default_message = _lazy("The search took too long. Try more specific words.")


@dataclass(frozen=True)
class SearchPage:
    results: list[events.MessagePayload]
    has_more: bool
    next_before_id: int | None


def clean_query(query: str) -> str:
    query = " ".join(query.split())
    if not query:
        raise InvalidInput(_("Enter something to search for."), code="empty_query")
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidInput(
            _("A search is at most %(max)d characters.") % {"max": MAX_QUERY_CHARS},
            code="query_too_long",
        )
    return query


def search_messages(
    *,
    user: User,
    query: str,
    channel_id: int | None = None,
    before_id: int | None = None,
    limit: int = DEFAULT_LIMIT,
) -> SearchPage:
    """Messages `user` may read that match `query` (in their text or their files' names),
    newest first: a page of `limit`. With the `search_filters` flag, `query` may hold
    filters (apps/search/filters.py)."""
    query = clean_query(query)
    access_search(user=user)
    if channel_id is not None:
        access_channel_read_position(user=user, channel_id=channel_id)
    if feature_enabled(user=user, name=FILTERS_FLAG):
        parsed = parse_query(user=user, query=query)
    else:
        parsed = ParsedQuery(text=query, filters=SearchFilters())
    limit = max(1, min(limit, MAX_LIMIT))
    cursor_id = before_id if before_id is not None else _NO_CURSOR
    if connection.vendor == "postgresql":
        rows = _rows_postgresql(user, parsed, channel_id, cursor_id, limit + 1)
    else:
        rows = load_rows(_ids_substring(user, parsed, channel_id, cursor_id, limit + 1))
    has_more = len(rows) > limit
    rows = rows[:limit]
    return SearchPage(
        results=payloads(rows),
        has_more=has_more,
        next_before_id=rows[-1].id if has_more else None,
    )


def _rows_postgresql(
    user: User, parsed: ParsedQuery, channel_id: int | None, before_id: int, limit: int
) -> list[MessageRow]:
    if channel_id is not None:
        scope, scope_params = _CHANNEL_SCOPE, [channel_id]
    else:
        scope = _MEMBER_SCOPE.format(membership=Membership._meta.db_table)
        scope_params = [user.pk]
    filters, filter_params = parsed.filters.sql()
    if not parsed.text:  # filters alone: the newest messages that pass them
        sql = _SEARCH_SQL.format(select=rows_select(), match="TRUE", scope=scope, filters=filters)
        return rows_of(_run(sql, [*scope_params, before_id, *filter_params, limit]))
    text = query_text(parsed.text)
    sql = _SEARCH_SQL.format(select=rows_select(), match=_TEXT_MATCH, scope=scope, filters=filters)
    rows = rows_of(_run(sql, [text, text, *scope_params, before_id, *filter_params, limit]))
    # Messages found by a file's name: merged in by id (both lists are newest first and
    # `limit` long, so the first `limit` of the merge are those of the whole search).
    name_text = query_text(parsed.text.translate(_FILE_NAME_SEPARATORS))
    by_name = _FILE_NAME_SQL.format(
        attachments=attachment_store().table(),
        messages=Message._meta.db_table,
        vector=_FILE_NAME_VECTOR,
        scope=scope,
        filters=filters,
    )
    found = {row.id for row in rows}
    extra = [
        message_id
        for (message_id,) in _run(
            by_name, [name_text, name_text, *scope_params, before_id, *filter_params, limit]
        )
        if message_id not in found
    ]
    if extra:
        rows = sorted([*rows, *load_rows(extra)], key=lambda row: row.id, reverse=True)[:limit]
    return rows


def _run(sql: str, params: list[Any]) -> list[Any]:
    """Fetch `sql` under the search timeout (503 `search_timeout` when it runs longer)."""
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


def _ids_substring(
    user: User, parsed: ParsedQuery, channel_id: int | None, before_id: int, limit: int
) -> list[int]:
    messages = Message.objects.filter(deleted_at__isnull=True, pk__lt=before_id)
    if channel_id is not None:
        messages = messages.filter(channel_id=channel_id)
    else:
        messages = messages.filter(
            channel_id__in=Membership.objects.filter(user=user).values("channel_id")
        )
    messages = messages.filter(parsed.filters.q())
    for term in _terms(parsed.text):
        # In the text, or in the name of one of the message's clean files.
        named = Message.objects.filter(
            attachments__original_name__icontains=term,
            attachments__status="clean",
            attachments__deleted_at__isnull=True,
        ).values("pk")
        messages = messages.filter(Q(body__icontains=term) | Q(pk__in=named))
    return list(messages.order_by("-pk").values_list("pk", flat=True).distinct()[:limit])
