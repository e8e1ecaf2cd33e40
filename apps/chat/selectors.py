"""Reads on the chat domain. Every selector runs a fixed number of queries."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, cast

import orjson
from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext as _
from rest_framework.utils.encoders import JSONEncoder

from apps.accounts.models import User
from apps.chat import events, queries
from apps.chat.attachments import attachment_store
from apps.chat.models import (
    Channel,
    ChannelKind,
    Membership,
    Message,
    MessagePin,
)
from apps.chat.permissions import (
    ChannelReadPosition,
    access_channel_read,
    access_channel_read_position,
    access_message_read,
)
from apps.chat.queries import MessageRow, load_rows
from apps.core.errors import InvalidInput
from apps.core.runtime.sqlrows import (
    attnames,
    converted,
    instances,
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


def channel_list_for_user(
    *, user: User, channel_ids: list[int] | None = None
) -> list[ChannelSummary]:
    """The user's channels with unread and mention counts. One query, whatever the size.

    `channel_ids` narrows the list (e.g. to one channel for its detail view). A message counts
    as a mention when it names the user or says @all/@everyone; one that does both counts once.
    """
    summaries = []
    counts_from = len(attnames(Membership)) + len(attnames(Channel))
    rows = queries.channel_list_rows(user_id=user.pk, channel_ids=channel_ids)
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


class MessageDetails(NamedTuple):
    # message id -> emoji -> user ids, grouped in order of first use
    reactions: dict[int, dict[str, list[int]]]
    mentioned: dict[int, list[int]]
    attachments: dict[int, list[Any]]
    pins: dict[int, events.PinPayload]


def _message_details(ids: list[int]) -> MessageDetails:
    """Reactions (grouped by emoji in order of first use, as `events.reactions_payload`),
    mentioned user ids, attachments and pins of these messages.

    One query (`queries.message_details_rows`). Attachments are rare, so their rows are
    loaded in a second query only for the messages that have some.
    """
    reactions: dict[int, dict[str, list[int]]] = {}
    mentioned: dict[int, list[int]] = {}
    with_attachments: set[int] = set()
    pins: dict[int, events.PinPayload] = {}
    for kind, message_id, user_id, emoji, created_at, _id in queries.message_details_rows(ids):
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
        rows = queries.message_rows_changed_after(
            channel_id=channel_id, roots_only=roots_only, after_version=after_seq, limit=limit + 2
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
        older = queries.message_rows_before_seq(
            channel_id=channel_id, roots_only=roots_only, before_seq=anchor, limit=half + 1
        )
        newer = queries.message_rows_from_seq(
            channel_id=channel_id, roots_only=roots_only, from_seq=anchor, limit=limit - half + 1
        )
        has_more_before = len(older) > half
        has_more_after = len(newer) > limit - half
        messages = list(reversed(older[:half])) + newer[: limit - half]
    else:
        if before_seq is not None:
            rows = queries.message_rows_before_seq(
                channel_id=channel_id, roots_only=roots_only, before_seq=before_seq, limit=limit + 1
            )
        else:
            rows = queries.message_rows_newest(
                channel_id=channel_id, roots_only=roots_only, limit=limit + 1
            )
        has_more_before = len(rows) > limit
        messages = list(reversed(rows[:limit]))
    return messages, has_more_before, has_more_after


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
        # Every socket subscribes once it is open: by hand (queries.active_user_ids), the
        # same rows as `user_directory` for a non-guest (every active user; a test compares
        # the two).
        visible = queries.active_user_ids(user_ids)
    return presence_store().status_of(visible)


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
