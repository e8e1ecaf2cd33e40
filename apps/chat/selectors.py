"""Reads on the chat domain. Every selector runs a fixed number of queries."""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, cast

import orjson
from django.conf import settings
from django.db import connection
from django.db.models import Count, Exists, Field, OuterRef, Q, QuerySet
from django.utils.translation import gettext as _
from rest_framework.utils.encoders import JSONEncoder

from apps.accounts.models import User
from apps.chat import events
from apps.chat.attachments import attachment_store
from apps.chat.models import (
    Channel,
    ChannelKind,
    Membership,
    Mention,
    Message,
    MessagePin,
    Reaction,
)
from apps.chat.permissions import (
    ChannelReadPosition,
    access_channel_read,
    access_channel_read_position,
    access_message_read,
)
from apps.core.errors import InvalidInput
from apps.core.runtime.sqlrows import (
    any_of,
    attnames,
    converted,
    instances,
    prepared_cursor,
    select_list,
)


@dataclass(frozen=True, slots=True)
class ChannelSummary:
    channel: Channel
    membership: Membership
    unread_count: int
    mention_count: int
    member_ids: list[int] | None


def direct_member_ids(channel: Channel) -> list[int] | None:
    """Member ids of a direct or group channel, read from its key (no query); None otherwise."""
    if not channel.is_direct or not channel.dm_key:
        return None
    return sorted(int(user_id) for user_id in channel.dm_key.split(","))


# One query for the whole channel list; {placeholders} are filled from the models' metadata.
# - unread: per membership a COUNT over the partial covering index `chat_message_live_seq`
#   (channel, seq) INCLUDE (sender) WHERE deleted_at IS NULL: an index-only range scan on
#   PostgreSQL whose cost follows the unread count, not the channel's size;
# - everyone: unread @all/@everyone messages that do not also name the user (partial index
#   `chat_message_everyone_seq`);
# - named: unread messages naming the user, driven from the user's own mentions (index on
#   mention (user, message)) and grouped per channel, then joined to the memberships.
# Hand-written because building the ORM version's subquery expressions cost ~1.5 ms of CPU
# per request, more than PostgreSQL spends answering it for a usual user.
_CHANNEL_LIST_SQL = """
    SELECT {membership_columns}, {channel_columns},
        (SELECT COUNT(*) FROM {message} x
            WHERE x.channel_id = m.channel_id AND x.seq > m.last_read_seq
            AND x.deleted_at IS NULL AND x.sender_id <> %s) AS unread,
        (SELECT COUNT(*) FROM {message} x
            WHERE x.channel_id = m.channel_id AND x.seq > m.last_read_seq
            AND x.deleted_at IS NULL AND x.mentions_everyone AND x.sender_id <> %s
            AND NOT EXISTS (SELECT 1 FROM {mention} n2
                WHERE n2.message_id = x.id AND n2.user_id = %s)) AS everyone,
        COALESCE(named.n, 0) AS named
    FROM {membership} m
    JOIN {channel} c ON c.id = m.channel_id
    LEFT JOIN (
        SELECT x.channel_id AS channel_id, COUNT(*) AS n
        FROM {mention} n
        JOIN {message} x ON x.id = n.message_id
        JOIN {membership} m2 ON m2.channel_id = x.channel_id AND m2.user_id = %s
        WHERE n.user_id = %s AND x.seq > m2.last_read_seq
            AND x.deleted_at IS NULL AND x.sender_id <> %s
        GROUP BY x.channel_id
    ) named ON named.channel_id = m.channel_id
    WHERE m.user_id = %s {only_channels}
    ORDER BY m.channel_id
"""


def channel_list_for_user(
    *, user: User, channel_ids: list[int] | None = None
) -> list[ChannelSummary]:
    """The user's channels with unread and mention counts. One query, whatever the size.

    `channel_ids` narrows the list (e.g. to one channel for its detail view). A message counts
    as a mention when it names the user or says @all/@everyone; one that does both counts once.
    """
    only_sql, only_params = any_of(channel_ids or [], "bigint")
    sql = _CHANNEL_LIST_SQL.format(
        membership_columns=select_list(Membership, "m"),
        channel_columns=select_list(Channel, "c"),
        message=Message._meta.db_table,
        mention=Mention._meta.db_table,
        membership=Membership._meta.db_table,
        channel=Channel._meta.db_table,
        only_channels=f"AND m.channel_id {only_sql}" if channel_ids is not None else "",
    )
    params = [user.pk] * 7 + (only_params if channel_ids is not None else [])
    summaries = []
    counts_from = len(attnames(Membership)) + len(attnames(Channel))
    # Prepared: PostgreSQL took longer to plan this query (1.1 ms) than to run it for a user
    # of a dozen channels (0.7 ms); its generic plan is the same as the custom ones.
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    for loaded, row in zip(instances(rows, (Membership, Channel)), rows, strict=True):
        membership, channel = cast(Membership, loaded[0]), cast(Channel, loaded[1])
        membership.channel = channel
        unread, everyone, named = row[counts_from:]
        summaries.append(
            ChannelSummary(
                channel=channel,
                membership=membership,
                unread_count=unread,
                mention_count=everyone + named,
                member_ids=direct_member_ids(channel),
            )
        )
    return summaries


def channel_summary(*, user: User, channel_id: int) -> tuple[Channel, ChannelSummary | None]:
    """A channel the user may read, with their unread counts when they are a member."""
    channel, membership = access_channel_read(user=user, channel_id=channel_id)
    if membership is None:
        return channel, None
    summaries = channel_list_for_user(user=user, channel_ids=[channel.pk])
    return channel, summaries[0] if summaries else None


def _messages_with_details() -> QuerySet[Message]:
    return Message.objects.select_related("sender")


class MessageRow(NamedTuple):
    """A message as read paths need it: its columns and its sender's name, no model instance.

    History pages read these straight from `values_list` (building 50 messages and their 50
    senders as model instances cost more than the queries did). `payloads` turns them into
    the same `MessagePayload` that `events.message_payload` gives for a pushed message
    (both through `events.columns_payload`).
    """

    id: int
    channel_id: int
    seq: int
    version: int
    sender_id: int
    client_msg_id: uuid.UUID | None
    body: str
    html: str
    thread_root_id: int | None
    reply_count: int
    last_reply_at: datetime | None
    mentions_everyone: bool
    created_at: datetime
    edited_at: datetime | None
    deleted_at: datetime | None
    sender_display_name: str
    sender_first_name: str
    sender_last_name: str
    sender_username: str

    @property
    def pk(self) -> int:
        return self.id

    @property
    def sender_name(self) -> str:
        """As `User.name`: the display name, else the full name, else the username."""
        full_name = f"{self.sender_first_name} {self.sender_last_name}".strip()
        return self.sender_display_name or full_name or self.sender_username

    @classmethod
    def of(cls, message: Message) -> MessageRow:
        """The row of a loaded message (its sender loaded too)."""
        sender = message.sender
        return cls(
            id=message.pk,
            channel_id=message.channel_id,
            seq=message.seq,
            version=message.version,
            sender_id=message.sender_id,
            client_msg_id=message.client_msg_id,
            body=message.body,
            html=message.html,
            thread_root_id=message.thread_root_id,
            reply_count=message.reply_count,
            last_reply_at=message.last_reply_at,
            mentions_everyone=message.mentions_everyone,
            created_at=message.created_at,
            edited_at=message.edited_at,
            deleted_at=message.deleted_at,
            sender_display_name=sender.display_name,
            sender_first_name=sender.first_name,
            sender_last_name=sender.last_name,
            sender_username=sender.username,
        )


def payloads(messages: Sequence[Message | MessageRow]) -> list[events.MessagePayload]:
    """Payloads of history rows, or of messages loaded through `_messages_with_details`:
    one query for any number of messages (two when some have attachments), none for none."""
    if not messages:
        return []
    rows = [m if isinstance(m, MessageRow) else MessageRow.of(m) for m in messages]
    details = _message_details([row.id for row in rows])
    return [
        events.columns_payload(
            row,
            sender_name=row.sender_name,
            reactions=events.grouped_reactions_payload(details.reactions.get(row.id, {})),
            mentioned_user_ids=details.mentioned.get(row.id, []),
            attachments=details.attachments.get(row.id, []),
            pinned=details.pins.get(row.id),
        )
        for row in rows
    ]


_DETAILS_SQL = """
    SELECT 0, message_id, user_id, emoji, created_at, id FROM {reaction} WHERE message_id {ids}
    UNION ALL
    SELECT 1, message_id, user_id, '', NULL, 0 FROM {mention} WHERE message_id {ids}
    UNION ALL
    SELECT 2, message_id, 0, '', NULL, 0 FROM {attachment} WHERE message_id {ids}
    UNION ALL
    SELECT 3, p.message_id, COALESCE(p.pinned_by_id, 0),
        COALESCE(NULLIF(u.display_name, ''), NULLIF(TRIM(u.first_name || ' ' || u.last_name), ''),
            u.username, ''),
        p.pinned_at, 0
    FROM {pin} p LEFT JOIN {user} u ON u.id = p.pinned_by_id WHERE p.message_id {ids}
    ORDER BY 1, 5, 6
"""


class MessageDetails(NamedTuple):
    # message id -> emoji -> user ids, grouped in order of first use
    reactions: dict[int, dict[str, list[int]]]
    mentioned: dict[int, list[int]]
    attachments: dict[int, list[Any]]
    pins: dict[int, events.PinPayload]


def _message_details(ids: list[int]) -> MessageDetails:
    """Reactions (grouped by emoji in order of first use, as `events.reactions_payload`),
    mentioned user ids, attachments and pins of these messages.

    One hand-written UNION instead of three ORM queries (and Django's prefetch, which built a
    related manager and a queryset per message and relation): on a 50-message history page
    those cost more CPU than PostgreSQL spent answering them. Attachments are rare, so their
    rows are loaded in a second query only for the messages that have some.
    """
    # On PostgreSQL one array parameter: the same text for every page (psycopg parsed a list
    # of 150 placeholders again on every request), so it is prepared once per connection and
    # PostgreSQL does not plan it again for every page (0.23 ms under load).
    ids_sql, ids_params = any_of(ids, "bigint")
    params = ids_params * 4
    sql = _DETAILS_SQL.format(
        reaction=Reaction._meta.db_table,
        mention=Mention._meta.db_table,
        attachment=attachment_store().table(),
        pin=MessagePin._meta.db_table,
        user=User._meta.db_table,
        ids=ids_sql,
    )
    reactions: dict[int, dict[str, list[int]]] = {}
    mentioned: dict[int, list[int]] = {}
    with_attachments: set[int] = set()
    pins: dict[int, events.PinPayload] = {}
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        for kind, message_id, user_id, emoji, created_at, _id in cursor.fetchall():
            if kind == 0:
                reactions.setdefault(message_id, {}).setdefault(emoji, []).append(user_id)
            elif kind == 1:
                mentioned.setdefault(message_id, []).append(user_id)
            elif kind == 2:
                with_attachments.add(message_id)
            else:
                [(pinned_at,)] = converted([(created_at,)], [_PINNED_AT_FIELD])
                pins[message_id] = {
                    "pinned_by_id": user_id or None,
                    "pinned_by_name": emoji,
                    "pinned_at": pinned_at.isoformat(),
                }
    attachments: dict[int, list[Any]] = {}
    if with_attachments:
        attachments = attachment_store().of_messages(message_ids=with_attachments)
    return MessageDetails(reactions, mentioned, attachments, pins)


_PINNED_AT_FIELD = MessagePin._meta.get_field("pinned_at")


@dataclass(frozen=True, slots=True)
class HistoryPage:
    channel_id: int
    messages: list[MessageRow]
    has_more_before: bool
    has_more_after: bool
    last_seq: int

    def body(self) -> dict[str, object]:
        """The REST API's response body for this page."""
        return {
            "channel_id": self.channel_id,
            "last_seq": self.last_seq,
            "has_more_before": self.has_more_before,
            "has_more_after": self.has_more_after,
            "messages": payloads(self.messages),
        }


def _clamp_limit(limit: int | None) -> int:
    maximum = settings.ENCLAVE_HISTORY_PAGE_MAX
    if limit is None:
        return 50
    if limit < 1 or limit > maximum:
        raise InvalidInput(
            _("limit must be between 1 and %(max)d.") % {"max": maximum}, code="invalid_limit"
        )
    return limit


def _check_cursor(
    after_seq: int | None, before_seq: int | None, around_message_id: int | None
) -> None:
    if sum(x is not None for x in (after_seq, before_seq, around_message_id)) > 1:
        raise InvalidInput(
            _("Use only one of after_seq, before_seq and around."), code="invalid_cursor"
        )


def channel_history(
    *,
    user: User,
    channel_id: int,
    after_seq: int | None = None,
    before_seq: int | None = None,
    around_message_id: int | None = None,
    limit: int | None = None,
    roots_only: bool = False,
) -> HistoryPage:
    """A page of a channel's messages.

    - `after_seq=N`: every message created *or changed* after channel sequence N (edits,
      deletions, reactions and thread reply counts included), in order of change; page on
      with the last `version`. This is the catch-up call of a reconnecting client. A page
      holds one row more than `limit` when a reply and its root share its last version.
    - `before_seq=N`: the `limit` messages before position N, oldest first (scrolling back).
    - `around_message_id`: a page centred on that message (permalinks).
    - none: the latest `limit` messages.

    The REST view serves the same page through `channel_history_json` (cached).
    """
    _check_cursor(after_seq, before_seq, around_message_id)
    position = access_channel_read_position(user=user, channel_id=channel_id)
    return _page_at(
        position,
        after_seq=after_seq,
        before_seq=before_seq,
        around_message_id=around_message_id,
        limit=_clamp_limit(limit),
        roots_only=roots_only,
    )


def _page_at(
    position: ChannelReadPosition,
    *,
    after_seq: int | None,
    before_seq: int | None,
    around_message_id: int | None,
    limit: int,
    roots_only: bool,
) -> HistoryPage:
    messages, has_more_before, has_more_after = _history_rows(
        channel_id=position.channel_id,
        after_seq=after_seq,
        before_seq=before_seq,
        around_message_id=around_message_id,
        limit=limit,
        roots_only=roots_only,
    )
    return HistoryPage(
        channel_id=position.channel_id,
        messages=messages,
        has_more_before=has_more_before,
        has_more_after=has_more_after,
        last_seq=position.last_seq,
    )


def _history_rows(
    *,
    channel_id: int,
    after_seq: int | None,
    before_seq: int | None,
    around_message_id: int | None,
    limit: int,
    roots_only: bool,
) -> tuple[list[MessageRow], bool, bool]:
    """The page's rows, whether there are more before it and whether there are more after."""
    has_more_before = has_more_after = False
    if after_seq is not None:
        # A reply and its thread root share the version of the change that touched both (the
        # reply sent or deleted), so a page must not end between two rows of one version: the
        # next page starts after it. At most two rows share a version, hence `limit + 2`.
        rows = _page_rows(
            channel_id, roots_only, "m.version > %s", [after_seq], "m.version, m.id", limit + 2
        )
        end = limit
        if len(rows) > limit and rows[limit].version == rows[limit - 1].version:
            end = limit + 1
        has_more_after = len(rows) > end
        messages = rows[:end]
    elif around_message_id is not None:
        base = Message.objects.filter(channel_id=channel_id)
        if roots_only:
            base = base.filter(thread_root__isnull=True)
        anchor = base.filter(pk=around_message_id).values_list("seq", flat=True).first()
        if anchor is None:
            raise InvalidInput(_("That message is not in this channel."), code="invalid_cursor")
        half = limit // 2
        older = _page_rows(channel_id, roots_only, "m.seq < %s", [anchor], "m.seq DESC", half + 1)
        newer = _page_rows(
            channel_id, roots_only, "m.seq >= %s", [anchor], "m.seq", limit - half + 1
        )
        has_more_before = len(older) > half
        has_more_after = len(newer) > limit - half
        messages = list(reversed(older[:half])) + newer[: limit - half]
    else:
        where, params = ("", [])
        if before_seq is not None:
            where, params = "m.seq < %s", [before_seq]
        rows = _page_rows(channel_id, roots_only, where, params, "m.seq DESC", limit + 1)
        has_more_before = len(rows) > limit
        messages = list(reversed(rows[:limit]))
    return messages, has_more_before, has_more_after


def _row_fields() -> list[Field[object, object]]:
    """The model fields behind `MessageRow`'s columns, in order (the sender's from User)."""
    fields: list[Field[object, object]] = []
    for name in MessageRow._fields:
        if name.startswith("sender_") and name != "sender_id":
            fields.append(User._meta.get_field(name.removeprefix("sender_")))  # type: ignore[arg-type]
        else:
            fields.append(Message._meta.get_field(name))  # type: ignore[arg-type]
    return fields


_ROW_MODEL_FIELDS = _row_fields()


def _row_columns() -> str:
    """`MessageRow`'s columns in SQL: `m` the message, `u` its sender."""
    quote = connection.ops.quote_name
    return ", ".join(
        f"{'m' if field.model is Message else 'u'}.{quote(field.column or field.attname)}"
        for field in _ROW_MODEL_FIELDS
    )


# Hand-written, as the channel list is: the ORM's filter/order/slice/values_list chain cost more
# CPU per page than PostgreSQL spent answering it. One index range scan on (channel, seq) or
# (channel, version), then the senders by primary key.
_PAGE_SQL = """
    SELECT {columns} FROM {message} m JOIN {user} u ON u.id = m.sender_id
    WHERE m.channel_id = %s{roots_only}{where} ORDER BY {order} LIMIT %s
"""


def _page_rows(
    channel_id: int,
    roots_only: bool,
    where: str,
    params: list[int],
    order: str,
    limit: int,
) -> list[MessageRow]:
    """Rows of one channel, `where` / `order` / `limit` applied. `where` and `order` are fixed
    fragments written in `_history_rows`, never client input (values go in `params`)."""
    sql = _PAGE_SQL.format(
        columns=_row_columns(),
        message=Message._meta.db_table,
        user=User._meta.db_table,
        roots_only=" AND m.thread_root_id IS NULL" if roots_only else "",
        where=f" AND {where}" if where else "",
        order=order,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [channel_id, *params, limit])
        return rows_of(cursor.fetchall())


def rows_select() -> str:
    """`SELECT ... FROM ... JOIN ...` of `MessageRow`s (`m` the message, `u` its sender), for
    a query of another app to add its WHERE, ORDER BY and LIMIT to; `rows_of` reads them."""
    return (
        f"SELECT {_row_columns()} FROM {Message._meta.db_table} m "  # noqa: S608 - model names
        f"JOIN {User._meta.db_table} u ON u.id = m.sender_id"
    )


def rows_of(fetched: Sequence[Sequence[Any]]) -> list[MessageRow]:
    return [MessageRow._make(row) for row in converted(fetched, _ROW_MODEL_FIELDS)]


def load_rows(ids: Sequence[int]) -> list[MessageRow]:
    """The rows of these messages, in the order of `ids`; one query."""
    if not ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(f"{rows_select()} WHERE m.id IN ({', '.join(['%s'] * len(ids))})", ids)
        by_id = {row.id: row for row in rows_of(cursor.fetchall())}
    return [by_id[pk] for pk in ids if pk in by_id]


# --- the history page as the REST API sends it, cached ------------------------------------------


class HistoryPageCache:
    """Rendered history pages of this process, least recently used dropped first.

    Keys name the channel *and its `last_seq`*: every change of a channel's messages (new
    message, edit, deletion, reaction, thread reply count, attachment state) takes the next
    value of that sequence in the transaction that makes it, so a page stored under a
    `last_seq` is that page for as long as the channel's `last_seq` has that value, and no
    invalidation is needed, in this process or any other. What lies outside the sequence
    (senders' names; rows changed in the Django admin; purged deleted attachments, see
    docs/performance.md) is bounded by `ttl_seconds`.

    Per process rather than Redis: a hit costs a dictionary lookup, not a round trip and a
    copy of ~25 kB; memory is bounded by `max_bytes`; and exact keys need no shared state.
    Thread-safe (ASGI servers run each request's synchronous part in a thread of its own).
    """

    def __init__(self, *, max_bytes: int, ttl_seconds: float) -> None:
        self.max_bytes = max_bytes
        self.ttl_seconds = ttl_seconds
        self._pages: OrderedDict[Hashable, tuple[float, bytes]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            entry = self._pages.get(key)
            if entry is None:
                return None
            expires_at, body = entry
            if expires_at <= time.monotonic():
                del self._pages[key]
                self._size -= len(body)
                return None
            self._pages.move_to_end(key)
            return body

    def put(self, key: Hashable, body: bytes) -> None:
        if len(body) > self.max_bytes:
            return
        with self._lock:
            previous = self._pages.pop(key, None)
            if previous is not None:
                self._size -= len(previous[1])
            self._pages[key] = (time.monotonic() + self.ttl_seconds, body)
            self._size += len(body)
            while self._size > self.max_bytes:
                _key, (_expires_at, dropped) = self._pages.popitem(last=False)
                self._size -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()
            self._size = 0


# ~1,000 latest pages of 50 messages per process. Names may lag a rename by at most a minute.
history_pages = HistoryPageCache(max_bytes=32 * 1024 * 1024, ttl_seconds=60.0)

_json_fallback = JSONEncoder().default  # lazy strings, dates, UUIDs... as DRF renders them


def render_json(data: object) -> bytes:
    """The bytes DRF's JSONRenderer gives (compact, UTF-8), rendered by orjson."""
    rendered = orjson.dumps(data, default=_json_fallback)
    # As DRF does: U+2028/U+2029 are valid JSON but end a line in older JavaScript.
    if b"\xe2\x80\xa8" in rendered or b"\xe2\x80\xa9" in rendered:
        rendered = rendered.replace(b"\xe2\x80\xa8", b"\\u2028").replace(
            b"\xe2\x80\xa9", b"\\u2029"
        )
    return rendered


def channel_history_json(
    *,
    user: User,
    channel_id: int,
    after_seq: int | None = None,
    before_seq: int | None = None,
    around_message_id: int | None = None,
    limit: int | None = None,
    roots_only: bool = False,
) -> bytes:
    """`channel_history` as the REST API's JSON body, from `history_pages` when it holds it.

    The access check runs on every call (one query); the page, its details and its JSON only
    when the channel changed since the page was stored. The body holds nothing that depends on
    who asks.
    """
    _check_cursor(after_seq, before_seq, around_message_id)
    limit = _clamp_limit(limit)
    position = access_channel_read_position(user=user, channel_id=channel_id)
    key = (
        position.channel_id,
        position.created_at,
        position.last_seq,
        after_seq,
        before_seq,
        around_message_id,
        limit,
        roots_only,
    )
    body = history_pages.get(key)
    if body is None:
        page = _page_at(
            position,
            after_seq=after_seq,
            before_seq=before_seq,
            around_message_id=around_message_id,
            limit=limit,
            roots_only=roots_only,
        )
        body = render_json(page.body())
        history_pages.put(key, body)
    return body


def thread_messages(*, user: User, root_id: int) -> tuple[Message, list[Message]]:
    """A thread: its root and every reply, oldest first."""
    root, _membership = access_message_read(user=user, message_id=root_id)
    if root.thread_root_id is not None:
        root, _membership = access_message_read(user=user, message_id=root.thread_root_id)
    messages = list(
        _messages_with_details().filter(Q(pk=root.pk) | Q(thread_root_id=root.pk)).order_by("seq")
    )
    return messages[0], messages[1:]


def channel_pins(*, user: User, channel_id: int) -> list[events.MessagePayload]:
    """The messages pinned to a channel the user may read, newest pin first; each payload's
    `pinned` says who pinned it and when. Four queries whatever the number of pins (five when
    some have attachments)."""
    channel, _membership = access_channel_read(user=user, channel_id=channel_id)
    message_ids = list(
        MessagePin.objects.filter(channel=channel)
        .order_by("-pinned_at", "-id")
        .values_list("message_id", flat=True)[: settings.ENCLAVE_PINS_PER_CHANNEL]
    )
    return payloads(load_rows(message_ids))


def message_get(*, user: User, message_id: int) -> Message:
    """One message the user may read, with reactions and mentions loaded."""
    message, _membership = access_message_read(user=user, message_id=message_id)
    return _messages_with_details().get(pk=message.pk)


def channel_members(*, user: User, channel_id: int) -> QuerySet[Membership]:
    """Memberships of a channel the user may read, with their users."""
    channel, _membership = access_channel_read(user=user, channel_id=channel_id)
    return Membership.objects.filter(channel=channel).select_related("user")


def channel_get(*, user: User, channel_id: int) -> tuple[Channel, Membership | None]:
    """A channel the user may read, and the user's membership if any."""
    return access_channel_read(user=user, channel_id=channel_id)


def channel_browse(*, user: User) -> QuerySet[Channel]:
    """Public channels a non-guest may join, with member counts and whether they joined."""
    if user.is_guest:
        return Channel.objects.none()
    return Channel.objects.filter(kind=ChannelKind.PUBLIC).annotate(
        member_count=Count("memberships"),
        is_member=Exists(Membership.objects.filter(channel=OuterRef("pk"), user=user)),
    )


def user_directory(*, user: User) -> QuerySet[User]:
    """People the user can see: everyone active; guests only those they share a channel with.

    Their custom status comes along (the directory's payload shows it)."""
    users = User.objects.filter(is_active=True).select_related("custom_status")
    if user.is_guest:
        shared = Membership.objects.filter(channel__memberships__user=user, user=OuterRef("pk"))
        users = users.filter(Exists(shared))
    return users.order_by("username")


def presence_of(*, user: User, user_ids: list[int]) -> dict[int, str]:
    """Online/away/offline of the given users that `user` can see."""
    from apps.chat.presence import presence_store

    if not user_ids:
        visible: list[int] = []
    elif user.is_guest:
        visible = list(
            user_directory(user=user).filter(pk__in=user_ids).values_list("pk", flat=True)
        )
    else:
        # Every socket subscribes once it is open: building the directory query took the ORM
        # more CPU (~1.2 ms on a slow box) than PostgreSQL answering it; prepared by hand,
        # the same rows as `user_directory` for a non-guest (every active user; a test
        # compares the two).
        ids_sql, ids_params = any_of(user_ids, "bigint")
        with prepared_cursor() as cursor:
            cursor.execute(
                _ACTIVE_USERS_SQL.format(user=User._meta.db_table, ids=ids_sql), ids_params
            )
            visible = [user_id for (user_id,) in cursor.fetchall()]
    return presence_store().status_of(visible)


_ACTIVE_USERS_SQL = "SELECT id FROM {user} WHERE is_active AND id {ids}"


def messages_created_since(*, since: datetime) -> int:
    """How many messages were created at or after `since` (for the admin's overview).

    There is no index on `created_at` (each one costs every insert), but ids follow it: a send
    takes its `now` just before its INSERT takes the ids. So the first message at or after
    `since` is found by bisecting the primary key (one index look-up per step, about 20 for
    a million messages, 27 for a hundred million), and the messages from there are counted
    over the primary key's range: the cost grows with the messages since `since`, never with
    the table. The boundary is exact but for messages written within the clock difference of
    two app hosts, or whose `created_at` was rewritten afterwards (the demo company's).
    """

    def first_from(pk: int) -> tuple[int, datetime] | None:
        return (
            Message.objects.filter(pk__gte=pk)
            .order_by("pk")
            .values_list("pk", "created_at")
            .first()
        )

    first = first_from(0)
    if first is None:
        return 0
    if first[1] >= since:
        return Message.objects.count()
    last = Message.objects.order_by("-pk").values_list("pk", "created_at").first()
    if last is None or last[1] < since:
        return 0
    # The first row at or after `before` was created before `since`; the first at or after
    # `after` at or after it.
    before, after = first[0], last[0]
    while after - before > 1:
        middle = (before + after) // 2
        row = first_from(middle)
        if row is None or row[1] >= since:
            after = middle
        else:
            before = row[0]
    return Message.objects.filter(pk__gte=after).count()
