"""The inbox: mentions of me, replies in threads I started and direct messages, still unread.

No read rows of its own: "unread" is chat's read position (`Membership.last_read_seq`), so
reading a channel anywhere empties its part of the inbox and "mark all read" moves those
positions (chat's `read_mark`, which tells my other tabs).
"""

from __future__ import annotations

from functools import reduce
from operator import or_
from typing import Any

from django.db import transaction
from django.db.models import F, Q

from apps.accounts.models import User
from apps.chat.models import DIRECT_KINDS, Channel, Membership, Message
from apps.chat.selectors import payloads
from apps.chat.services import read_mark
from apps.core.features import access_feature

FLAG = "workplace_inbox"
INBOX_LIMIT = 100

REASON_DIRECT = "direct"
REASON_MENTION = "mention"
REASON_REPLY = "reply"


def _unread_memberships(user: User) -> list[Membership]:
    return list(
        Membership.objects.filter(
            user=user, channel__last_seq__gt=F("last_read_seq"), channel__is_archived=False
        ).select_related("channel")
    )


def _reason(message: Message, *, user: User, channel: Channel, mentioned: list[int]) -> str:
    if user.pk in mentioned or message.mentions_everyone:
        return REASON_MENTION
    if channel.kind in DIRECT_KINDS:
        return REASON_DIRECT
    return REASON_REPLY


def inbox_list(*, user: User, limit: int = INBOX_LIMIT) -> dict[str, Any]:
    """My unread mentions, replies to my threads and direct messages, newest first.

    Four queries whatever the number of channels: memberships, messages, their details, the
    thread roots' senders are joined in the message query.
    """
    access_feature(user=user, name=FLAG)
    memberships = _unread_memberships(user)
    if not memberships:
        return {"items": [], "channels": []}
    unread = reduce(or_, (Q(channel_id=m.channel_id, seq__gt=m.last_read_seq) for m in memberships))
    direct_ids = [m.channel_id for m in memberships if m.channel.kind in DIRECT_KINDS]
    wanted = (
        Q(channel_id__in=direct_ids)
        | Q(mentions__user=user)
        | Q(mentions_everyone=True)
        | Q(thread_root__sender=user)
    )
    messages = list(
        Message.objects.filter(unread, wanted, deleted_at__isnull=True)
        .exclude(sender=user)
        .select_related("sender")
        .distinct()
        .order_by("-created_at", "-id")[:limit]
    )
    channels = {m.channel_id: m.channel for m in memberships}
    items: list[dict[str, Any]] = []
    for payload, message in zip(payloads(messages), messages, strict=True):
        channel = channels[message.channel_id]
        reason = _reason(
            message, user=user, channel=channel, mentioned=payload["mentioned_user_ids"]
        )
        items.append({"reason": reason, "message": payload})
    in_items = {message.channel_id for message in messages}
    return {
        "items": items,
        "channels": [
            {"id": m.channel_id, "last_seq": m.channel.last_seq, "last_read_seq": m.last_read_seq}
            for m in memberships
            if m.channel_id in in_items
        ],
    }


@transaction.atomic
def inbox_mark_all_read(*, user: User) -> list[dict[str, int]]:
    """Mark every channel I am in read up to its newest message (each tab is told)."""
    access_feature(user=user, name=FLAG)
    marked = []
    for membership in _unread_memberships(user):
        seq = read_mark(
            user=user, channel_id=membership.channel_id, seq=membership.channel.last_seq
        )
        marked.append({"channel_id": membership.channel_id, "last_read_seq": seq})
    return marked
