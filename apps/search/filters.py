"""Search filters typed into the query (behind the `search_filters` flag), as in Slack:

    from:alice  in:general  has:file  has:link  is:thread  mentions:me
    before:2026-12-01  after:2026-11-01

`parse_query` splits a query into its words and its filters; `SearchFilters.sql` and
`SearchFilters.q` say the same thing to the PostgreSQL search (a WHERE fragment on the
message `m`) and to the substring search of other databases (a `Q` on `Message`). Filters
narrow, never widen: `in:` names only channels the user may read, and the member scope (or
the one channel) of the search still applies. `before:` and `after:` are days in the user's
time zone, both exclusive (`after:2026-12-01` starts on the 2nd). A filter may be repeated
(`from:alice from:bob`: either sender); a query of filters alone is a search too.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass, field

from django.db.models import Q
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.chat.models import Channel, ChannelKind, Membership, Mention
from apps.core.errors import InvalidInput

FLAG = "search_filters"

# `key:value` at the start of a word; values run to the next space (`in:#general`, `from:@bob`).
_FILTER = re.compile(r"(?<!\S)(from|in|has|is|mentions|before|after):(\S*)", re.IGNORECASE)
HAS_VALUES = ("file", "link")
IS_VALUES = ("thread",)
# has:link: what the Markdown renderer turns into a link (apps/chat/markdown.py autolinks).
LINK_MARKERS = ("http://", "https://")


@dataclass
class SearchFilters:
    sender_ids: list[int] = field(default_factory=list)
    channel_ids: list[int] = field(default_factory=list)
    has_file: bool = False
    has_link: bool = False
    is_thread: bool = False
    mentions_user_id: int | None = None
    before: dt.datetime | None = None
    after: dt.datetime | None = None
    # Named a sender or channel that does not exist (or that the user may not read): no match.
    impossible: bool = False

    def __bool__(self) -> bool:
        return bool(
            self.sender_ids
            or self.channel_ids
            or self.has_file
            or self.has_link
            or self.is_thread
            or self.mentions_user_id is not None
            or self.before
            or self.after
            or self.impossible
        )

    def q(self) -> Q:
        """The same conditions as a `Q` on `Message`."""
        condition = Q()
        if self.impossible:
            condition &= Q(pk__in=[])
        if self.sender_ids:
            condition &= Q(sender_id__in=self.sender_ids)
        if self.channel_ids:
            condition &= Q(channel_id__in=self.channel_ids)
        if self.has_file:
            condition &= Q(attachments__isnull=False, attachments__deleted_at__isnull=True)
        if self.has_link:
            link = Q()
            for marker in LINK_MARKERS:
                link |= Q(body__contains=marker)
            condition &= link
        if self.is_thread:
            condition &= Q(thread_root__isnull=False) | Q(reply_count__gt=0)
        if self.mentions_user_id is not None:
            condition &= Q(mentions_everyone=True) | Q(
                pk__in=Mention.objects.filter(user_id=self.mentions_user_id).values("message_id")
            )
        if self.before is not None:
            condition &= Q(created_at__lt=self.before)
        if self.after is not None:
            condition &= Q(created_at__gte=self.after)
        return condition


@dataclass(frozen=True)
class ParsedQuery:
    text: str  # the words, filters taken out
    filters: SearchFilters


def _invalid(key: str, value: str) -> InvalidInput:
    return InvalidInput(
        _("“%(filter)s” is not a search filter this search understands.")
        % {"filter": f"{key}:{value}"},
        code="invalid_filter",
        details={"filter": f"{key}:{value}"},
    )


def _day_start(user: User, value: str, key: str, *, next_day: bool) -> dt.datetime:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise _invalid(key, value) from None
    if next_day:
        day += dt.timedelta(days=1)
    try:
        zone = zoneinfo.ZoneInfo(user.time_zone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    return dt.datetime.combine(day, dt.time.min, tzinfo=zone)


def _readable_channel_ids(user: User, names: list[str]) -> list[int]:
    """Channels of these names the user may read: theirs (a DM by the other person's username
    too), or public ones unless they are a guest."""
    lowered = [name.lower() for name in names]
    mine = Membership.objects.filter(user=user)
    ids = set(mine.filter(channel__name__in=names).values_list("channel_id", flat=True)) | set(
        Channel.objects.filter(
            pk__in=mine.values("channel_id"),
            kind=ChannelKind.DIRECT,
            memberships__user__username__in=lowered,
        ).values_list("pk", flat=True)
    )
    if not user.is_guest:
        ids |= set(
            Channel.objects.filter(kind=ChannelKind.PUBLIC, name__in=names).values_list(
                "pk", flat=True
            )
        )
    return sorted(ids)


def parse_query(*, user: User, query: str) -> ParsedQuery:
    """Split `query` into its words and its filters (400 `invalid_filter` for an unknown one)."""
    filters = SearchFilters()
    senders: list[str] = []
    channels: list[str] = []
    for match in _FILTER.finditer(query):
        key, value = match.group(1).lower(), match.group(2)
        plain = value.lower()
        if not value:
            raise _invalid(key, value)
        if key == "from":
            senders.append(value.lstrip("@").lower())
        elif key == "in":
            channels.append(value.lstrip("#@"))
        elif key == "has" and plain in HAS_VALUES:
            filters.has_file |= plain == "file"
            filters.has_link |= plain == "link"
        elif key == "is" and plain in IS_VALUES:
            filters.is_thread = True
        elif key == "mentions" and plain in ("me", f"@{user.username}", user.username):
            filters.mentions_user_id = user.pk
        elif key == "before":
            filters.before = _day_start(user, value, key, next_day=False)
        elif key == "after":
            filters.after = _day_start(user, value, key, next_day=True)
        else:
            raise _invalid(key, value)
    if senders:
        filters.sender_ids = list(
            User.objects.filter(username__in=senders).values_list("pk", flat=True)
        )
        filters.impossible |= not filters.sender_ids
    if channels:
        filters.channel_ids = _readable_channel_ids(user, channels)
        filters.impossible |= not filters.channel_ids
    text = " ".join(_FILTER.sub(" ", query).split())
    return ParsedQuery(text=text, filters=filters)
