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

from dataclasses import dataclass

from django.db import connection
from django.db.models import Q
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.chat import events
from apps.chat.models import Membership, Message
from apps.chat.permissions import access_channel_read_position, access_search
from apps.chat.queries import MessageRow, load_rows
from apps.chat.selectors import payloads
from apps.core.cjk import CJK_RUN as _CJK_RUN  # shared with the help desk
from apps.core.cjk import query_grams
from apps.core.errors import InvalidInput
from apps.core.features import feature_enabled
from apps.search import queries
from apps.search.filters import FLAG as FILTERS_FLAG
from apps.search.filters import ParsedQuery, SearchFilters, parse_query

MAX_QUERY_CHARS = 200
DEFAULT_LIMIT = 20
MAX_LIMIT = 100

# The document side (the function `enclave_search_vector`, the stored column `search_vector` and
# its GIN index) is created by migrations/0001_message_search_index.py, which keeps its own frozen
# copy of the SQL: keep `query_text` in step with it, and change it by a new migration. The
# statements are in queries.py.
_FILE_NAME_SEPARATORS = str.maketrans("._-", "   ")
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
    if not parsed.text:  # filters alone: the newest messages that pass them
        return queries.search_message_rows(
            user_id=user.pk,
            channel_id=channel_id,
            text=None,
            filters=parsed.filters,
            before_id=before_id,
            limit=limit,
        )
    rows = queries.search_message_rows(
        user_id=user.pk,
        channel_id=channel_id,
        text=query_text(parsed.text),
        filters=parsed.filters,
        before_id=before_id,
        limit=limit,
    )
    # Messages found by a file's name: merged in by id (both lists are newest first and
    # `limit` long, so the first `limit` of the merge are those of the whole search).
    found = {row.id for row in rows}
    by_name = queries.message_ids_by_file_name(
        user_id=user.pk,
        channel_id=channel_id,
        name_text=query_text(parsed.text.translate(_FILE_NAME_SEPARATORS)),
        filters=parsed.filters,
        before_id=before_id,
        limit=limit,
    )
    extra = [message_id for message_id in by_name if message_id not in found]
    if extra:
        rows = sorted([*rows, *load_rows(extra)], key=lambda row: row.id, reverse=True)[:limit]
    return rows


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
