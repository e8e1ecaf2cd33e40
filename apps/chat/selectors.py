"""Reads on the chat domain. Every selector runs a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, QuerySet
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.chat import events
from apps.chat.models import Channel, ChannelKind, Membership, Mention, Message
from apps.chat.permissions import access_channel_read, access_message_read
from apps.core.errors import InvalidInput
from apps.files.models import Attachment


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


def _unread_messages_for(user: User) -> QuerySet[Message]:
    # One filter() call: the membership join and the F() refer to the same membership row.
    return Message.objects.filter(
        channel__memberships__user=user,
        seq__gt=F("channel__memberships__last_read_seq"),
        deleted_at__isnull=True,
    ).exclude(sender=user)


def channel_list_for_user(
    *, user: User, channel_ids: list[int] | None = None
) -> list[ChannelSummary]:
    """The user's channels with unread and mention counts. Three queries, whatever the size.

    `channel_ids` narrows the list (e.g. to one channel for its detail view).
    """
    memberships_query = Membership.objects.filter(user=user)
    unread_query = _unread_messages_for(user)
    if channel_ids is not None:
        memberships_query = memberships_query.filter(channel_id__in=channel_ids)
        unread_query = unread_query.filter(channel_id__in=channel_ids)
    memberships = list(memberships_query.select_related("channel").order_by("channel_id"))
    unread = dict(unread_query.values_list("channel_id").annotate(n=Count("id")).order_by())
    mentioned = dict(
        unread_query.filter(Q(mentions__user=user) | Q(mentions_everyone=True))
        .values_list("channel_id")
        .annotate(n=Count("id", distinct=True))
        .order_by()
    )
    return [
        ChannelSummary(
            channel=m.channel,
            membership=m,
            unread_count=unread.get(m.channel_id, 0),
            mention_count=mentioned.get(m.channel_id, 0),
            member_ids=direct_member_ids(m.channel),
        )
        for m in memberships
    ]


def channel_summary(*, user: User, channel_id: int) -> tuple[Channel, ChannelSummary | None]:
    """A channel the user may read, with their unread counts when they are a member."""
    channel, membership = access_channel_read(user=user, channel_id=channel_id)
    if membership is None:
        return channel, None
    summaries = channel_list_for_user(user=user, channel_ids=[channel.pk])
    return channel, summaries[0] if summaries else None


def _messages_with_details() -> QuerySet[Message]:
    return Message.objects.select_related("sender").prefetch_related(
        "reactions",
        Prefetch("mentions", queryset=Mention.objects.only("message_id", "user_id")),
        Prefetch("attachments", queryset=Attachment.objects.order_by("created_at", "id")),
    )


def payloads(messages: list[Message]) -> list[events.MessagePayload]:
    """Payloads of messages loaded through `_messages_with_details` (no further queries)."""
    return [
        events.message_payload(
            m,
            reactions=m.reactions.all(),
            mentioned_user_ids=[mention.user_id for mention in m.mentions.all()],
            attachments=m.attachments.all(),
        )
        for m in messages
    ]


@dataclass(frozen=True, slots=True)
class HistoryPage:
    channel: Channel
    messages: list[Message]
    has_more_before: bool
    has_more_after: bool
    last_seq: int


def _clamp_limit(limit: int | None) -> int:
    maximum = settings.ENCLAVE_HISTORY_PAGE_MAX
    if limit is None:
        return 50
    if limit < 1 or limit > maximum:
        raise InvalidInput(
            _("limit must be between 1 and %(max)d.") % {"max": maximum}, code="invalid_limit"
        )
    return limit


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
    """
    if sum(x is not None for x in (after_seq, before_seq, around_message_id)) > 1:
        raise InvalidInput(
            _("Use only one of after_seq, before_seq and around."), code="invalid_cursor"
        )
    limit = _clamp_limit(limit)
    channel, _membership = access_channel_read(user=user, channel_id=channel_id)
    base = _messages_with_details().filter(channel_id=channel.pk)
    if roots_only:
        base = base.filter(thread_root__isnull=True)
    has_more_before = has_more_after = False
    if after_seq is not None:
        # A reply and its thread root share the version of the change that touched both (the
        # reply sent or deleted), so a page must not end between two rows of one version: the
        # next page starts after it. At most two rows share a version, hence `limit + 2`.
        rows = list(base.filter(version__gt=after_seq).order_by("version", "id")[: limit + 2])
        end = limit
        if len(rows) > limit and rows[limit].version == rows[limit - 1].version:
            end = limit + 1
        has_more_after = len(rows) > end
        messages = rows[:end]
    elif around_message_id is not None:
        anchor = base.filter(pk=around_message_id).values_list("seq", flat=True).first()
        if anchor is None:
            raise InvalidInput(_("That message is not in this channel."), code="invalid_cursor")
        half = limit // 2
        older = list(base.filter(seq__lt=anchor).order_by("-seq")[: half + 1])
        newer = list(base.filter(seq__gte=anchor).order_by("seq")[: limit - half + 1])
        has_more_before = len(older) > half
        has_more_after = len(newer) > limit - half
        messages = list(reversed(older[:half])) + newer[: limit - half]
    else:
        query = base if before_seq is None else base.filter(seq__lt=before_seq)
        rows = list(query.order_by("-seq")[: limit + 1])
        has_more_before = len(rows) > limit
        messages = list(reversed(rows[:limit]))
    return HistoryPage(
        channel=channel,
        messages=messages,
        has_more_before=has_more_before,
        has_more_after=has_more_after,
        last_seq=channel.last_seq,
    )


def thread_messages(*, user: User, root_id: int) -> tuple[Message, list[Message]]:
    """A thread: its root and every reply, oldest first."""
    root, _membership = access_message_read(user=user, message_id=root_id)
    if root.thread_root_id is not None:
        root, _membership = access_message_read(user=user, message_id=root.thread_root_id)
    messages = list(
        _messages_with_details().filter(Q(pk=root.pk) | Q(thread_root_id=root.pk)).order_by("seq")
    )
    return messages[0], messages[1:]


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
    """People the user can see: everyone active; guests only those they share a channel with."""
    users = User.objects.filter(is_active=True)
    if user.is_guest:
        shared = Membership.objects.filter(channel__memberships__user=user, user=OuterRef("pk"))
        users = users.filter(Exists(shared))
    return users.order_by("username")


def presence_of(*, user: User, user_ids: list[int]) -> dict[int, str]:
    """Online/away/offline of the given users that `user` can see."""
    from apps.chat.presence import presence_store

    visible = list(user_directory(user=user).filter(pk__in=user_ids).values_list("pk", flat=True))
    return presence_store().status_of(visible)
