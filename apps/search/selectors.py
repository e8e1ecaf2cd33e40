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

import re
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from psycopg.errors import QueryCanceled

from apps.accounts.models import User
from apps.chat import events
from apps.chat.models import Membership, Message
from apps.chat.permissions import access_channel_read_position, access_search
from apps.chat.selectors import MessageRow, load_rows, payloads, rows_of, rows_select
from apps.core.errors import DomainError, InvalidInput

# Kana, CJK ideographs (with extension A and the compatibility block) and Hangul syllables.
CJK_CHARACTERS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_CJK_RUN = re.compile(f"[{CJK_CHARACTERS}]+")

MAX_QUERY_CHARS = 200
DEFAULT_LIMIT = 20
MAX_LIMIT = 100

# The document side, in SQL (migrations/0001 creates it; keep `query_text` in step). CJK runs
# are cut out of the text the parser sees and appended as unigrams and bigrams, by regular
# expressions: `runs` holds only the CJK runs, a space between them; pairs from the first
# character of each run, then pairs from the second, give every bigram. A message without
# CJK pays one test.
# PL/pgSQL: a SQL function with a sub-select is not inlined, and its executor cost 2x more.
SEARCH_FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION enclave_search_vector(body text) RETURNS tsvector
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE
    runs text;
BEGIN
    IF body !~ '[{CJK_CHARACTERS}]' THEN
        RETURN to_tsvector('english'::regconfig, body);
    END IF;
    runs := regexp_replace(body, '[^{CJK_CHARACTERS}]+', ' ', 'g');
    RETURN to_tsvector('english'::regconfig, concat_ws(' ',
        regexp_replace(body, '[{CJK_CHARACTERS}]+', ' ', 'g'),
        regexp_replace(runs, '([{CJK_CHARACTERS}])', '\\1 ', 'g'),
        regexp_replace(runs, '([{CJK_CHARACTERS}]{{2}})', '\\1 ', 'g'),
        regexp_replace(
            regexp_replace(runs, '(^| )[{CJK_CHARACTERS}]', '\\1', 'g'),
            '([{CJK_CHARACTERS}]{{2}})', '\\1 ', 'g')));
END
$fn$
"""
# Stored, not an expression index: a search for a common word walks the newest messages and
# tests each one's stored vector (about a microsecond) instead of computing it (20 µs).
SEARCH_COLUMN_SQL = (
    "ALTER TABLE chat_message ADD COLUMN IF NOT EXISTS search_vector tsvector "
    "GENERATED ALWAYS AS (enclave_search_vector(body)) STORED"
)
SEARCH_INDEX = "chat_message_search"
# A 256 kB pending list: new entries are appended there and merged into the tree in small
# batches. With the default 4 MB the merge, every ~20,000 messages, stalled the send batch
# that triggered it (seed case 1: p99 ack 3.7 s); with no pending list every message pays its
# own tree inserts (1.1 s); with 256 kB, 386 ms, as without a search index (388 ms).
SEARCH_INDEX_SQL = (
    f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {SEARCH_INDEX} ON chat_message "
    "USING gin (search_vector) WITH (fastupdate = on, gin_pending_list_limit = 256) "
    "WHERE deleted_at IS NULL"
)

_SEARCH_SQL = """
    {select}
    WHERE m.search_vector @@ plainto_tsquery('english'::regconfig, %s)
        AND numnode(plainto_tsquery('english'::regconfig, %s)) > 0
        AND m.deleted_at IS NULL AND {scope} AND m.id < %s
    ORDER BY m.id DESC LIMIT %s
"""
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
        grams.extend([run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)])
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
    """Messages `user` may read that match `query`, newest first: a page of `limit`."""
    query = clean_query(query)
    access_search(user=user)
    if channel_id is not None:
        access_channel_read_position(user=user, channel_id=channel_id)
    limit = max(1, min(limit, MAX_LIMIT))
    cursor_id = before_id if before_id is not None else _NO_CURSOR
    if connection.vendor == "postgresql":
        rows = _rows_postgresql(user, query, channel_id, cursor_id, limit + 1)
    else:
        rows = load_rows(_ids_substring(user, query, channel_id, cursor_id, limit + 1))
    has_more = len(rows) > limit
    rows = rows[:limit]
    return SearchPage(
        results=payloads(rows),
        has_more=has_more,
        next_before_id=rows[-1].id if has_more else None,
    )


def _rows_postgresql(
    user: User, query: str, channel_id: int | None, before_id: int, limit: int
) -> list[MessageRow]:
    text = query_text(query)
    if channel_id is not None:
        scope, scope_params = _CHANNEL_SCOPE, [channel_id]
    else:
        scope = _MEMBER_SCOPE.format(membership=Membership._meta.db_table)
        scope_params = [user.pk]
    sql = _SEARCH_SQL.format(select=rows_select(), scope=scope)
    timeout = str(settings.ENCLAVE_SEARCH_TIMEOUT_MS)
    params: list[Any] = [timeout, text, text, *scope_params, before_id, limit]
    try:
        # One round trip: the timeout and the search travel as one simple-protocol query
        # string (client-side binding), which PostgreSQL runs as one implicit transaction, so
        # the local setting covers the search and ends with it: no BEGIN and COMMIT of our own.
        # Inside a transaction, a savepoint keeps a cancelled search from breaking it.
        savepoint = transaction.atomic() if connection.in_atomic_block else nullcontext()
        with savepoint, connection.cursor() as cursor:
            cursor.execute(_TIMEOUT_SQL + sql, params)
            cursor.nextset()
            return rows_of(cursor.fetchall())
    except OperationalError as error:
        if not isinstance(error.__cause__, QueryCanceled):
            raise
        raise SearchTimeout() from error


_TIMEOUT_SQL = "SELECT set_config('statement_timeout', %s, true);\n"


def _ids_substring(
    user: User, query: str, channel_id: int | None, before_id: int, limit: int
) -> list[int]:
    messages = Message.objects.filter(deleted_at__isnull=True, pk__lt=before_id)
    if channel_id is not None:
        messages = messages.filter(channel_id=channel_id)
    else:
        messages = messages.filter(
            channel_id__in=Membership.objects.filter(user=user).values("channel_id")
        )
    for term in _terms(query):
        messages = messages.filter(body__icontains=term)
    return list(messages.order_by("-pk").values_list("pk", flat=True)[:limit])
