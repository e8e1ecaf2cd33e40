"""Read receipts: who has read a message, derived from the members' read positions.

No row per message and reader: a member has read a message when their read position
(`Membership.last_read_seq`) is at or past the message's `seq`. Receipts exist only when the
organisation turned them on (`OrganizationSettings.read_receipts_enabled`) and only in
conversations of at most `ENCLAVE_RECEIPTS_MAX_MEMBERS` members (DMs, group DMs, small
channels); elsewhere nothing is read or sent for them.

Who sees what: the seen-by list of a message is its sender's only (as in Feishu and
DingTalk); the members of a small conversation receive each other's read positions
(`channel_read_positions`, the `receipts.updated` push), from which their client counts
"Read by N" under their own messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from django.conf import settings
from django.utils.translation import gettext as _

from apps.accounts.models import OrganizationSettings, User
from apps.chat.models import Channel, ChannelKind, Membership
from apps.chat.permissions import access_channel_read, access_message_read
from apps.core.errors import Forbidden, NotFound


class ReadPosition(TypedDict):
    user_id: int
    last_read_seq: int


class ReceiptMember(TypedDict):
    user_id: int
    name: str


@dataclass(frozen=True, slots=True)
class ChannelReadPositions:
    """The other members' read positions of one conversation, or why there are none."""

    channel_id: int
    # False when the organisation has receipts off or the conversation is too large.
    available: bool
    # "" when available, else "disabled" or "too_many_members".
    reason: str
    positions: list[ReadPosition]


@dataclass(frozen=True, slots=True)
class MessageReceipts:
    message_id: int
    channel_id: int
    seq: int
    read: list[ReceiptMember]
    unread: list[ReceiptMember]


def receipts_max_members() -> int:
    return int(settings.ENCLAVE_RECEIPTS_MAX_MEMBERS)


def receipts_enabled() -> bool:
    """Whether the organisation shows read receipts (one query; off without a settings row)."""
    return OrganizationSettings.objects.filter(pk=1, read_receipts_enabled=True).exists()


def receipts_channel_small_enough(*, channel: Channel) -> bool:
    """Whether `channel` has at most `ENCLAVE_RECEIPTS_MAX_MEMBERS` members.

    A DM has two by construction (no query); otherwise one bounded count that stops reading
    memberships past the limit, so a channel of 10,000 costs what one of 21 does.
    """
    limit = receipts_max_members()
    if channel.kind == ChannelKind.DIRECT:
        return limit >= 2
    return Membership.objects.filter(channel_id=channel.pk)[: limit + 1].count() <= limit


def receipts_push_wanted(*, channel: Channel) -> bool:
    """Whether a read mark in `channel` is announced to its members (`receipts.updated`).

    The read-mark path's cost when receipts are off: one query; on: one more, none in a DM.
    """
    return receipts_enabled() and receipts_channel_small_enough(channel=channel)


def _active_memberships(channel_id: int, limit: int) -> list[Membership]:
    # limit + 1 rows: enough to know the conversation is too large without reading it all.
    return list(
        Membership.objects.filter(channel_id=channel_id, user__is_active=True)
        .select_related("user")
        .order_by("user_id")[: limit + 1]
    )


def channel_read_positions(*, user: User, channel_id: int) -> ChannelReadPositions:
    """The read positions of the other members of a conversation `user` belongs to.

    Three queries whatever the size. Only members may ask (403 `not_member`); with receipts
    off, or past the size limit, the answer says so and carries no positions.
    """
    channel, membership = access_channel_read(user=user, channel_id=channel_id)
    if membership is None:
        raise Forbidden(_("You are not a member."), code="not_member")
    if not receipts_enabled():
        return ChannelReadPositions(channel.pk, available=False, reason="disabled", positions=[])
    limit = receipts_max_members()
    rows = list(
        Membership.objects.filter(channel_id=channel.pk, user__is_active=True)
        .order_by("user_id")
        .values_list("user_id", "last_read_seq")[: limit + 1]
    )
    if len(rows) > limit:
        return ChannelReadPositions(
            channel.pk, available=False, reason="too_many_members", positions=[]
        )
    positions: list[ReadPosition] = [
        {"user_id": user_id, "last_read_seq": seq} for user_id, seq in rows if user_id != user.pk
    ]
    return ChannelReadPositions(channel.pk, available=True, reason="", positions=positions)


def message_receipts(*, user: User, message_id: int) -> MessageReceipts:
    """Who of the conversation's other members has read `user`'s message, and who not.

    The sender only (403 `receipts_sender_only` for the others; 404 `message_not_found` for
    those who may not read it at all); 404 `receipts_disabled` while the organisation has
    receipts off, 404 `receipts_unavailable` in a conversation past the size limit.
    Four queries whatever the size.
    """
    message, membership = access_message_read(user=user, message_id=message_id)
    if message.sender_id != user.pk or membership is None:
        raise Forbidden(
            _("Only the sender sees who has read a message."), code="receipts_sender_only"
        )
    if message.deleted_at is not None:
        raise NotFound(_("This message was deleted."), code="message_deleted")
    if not receipts_enabled():
        raise NotFound(
            _("Your organisation does not show read receipts."), code="receipts_disabled"
        )
    limit = receipts_max_members()
    members = _active_memberships(message.channel_id, limit)
    if len(members) > limit:
        raise NotFound(
            _("Read receipts are shown only in conversations of up to %(count)s people.")
            % {"count": limit},
            code="receipts_unavailable",
            details={"max_members": limit},
        )
    read: list[ReceiptMember] = []
    unread: list[ReceiptMember] = []
    for member in sorted(members, key=lambda m: m.user.name.casefold()):
        if member.user_id == user.pk:
            continue
        entry: ReceiptMember = {"user_id": member.user_id, "name": member.user.name}
        (read if member.last_read_seq >= message.seq else unread).append(entry)
    return MessageReceipts(
        message_id=message.pk,
        channel_id=message.channel_id,
        seq=message.seq,
        read=read,
        unread=unread,
    )
