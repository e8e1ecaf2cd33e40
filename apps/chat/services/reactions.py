"""Writes on reactions."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.chat import events
from apps.chat.models import Message, Reaction
from apps.chat.permissions import access_message_react
from apps.chat.services._common import MAX_EMOJI_LENGTH, _next_channel_seq
from apps.core.errors import InvalidInput
from apps.core.events import Audience, publish_on_commit


def _clean_emoji(emoji: object) -> str:
    if not isinstance(emoji, str) or not emoji.strip() or len(emoji) > MAX_EMOJI_LENGTH:
        raise InvalidInput(_("Not a valid emoji."), code="invalid_emoji")
    return emoji.strip()


@transaction.atomic
def reaction_add(*, user: User, message_id: int, emoji: str) -> Message:
    """React to a message; adding the same reaction twice is a no-op."""
    emoji = _clean_emoji(emoji)
    message = access_message_react(user=user, message_id=message_id)
    if Reaction.objects.filter(message=message, user=user, emoji=emoji).exists():
        return message
    seq = _next_channel_seq(channel_id=message.channel_id, now=timezone.now(), new_message=False)
    Reaction.objects.create(message=message, user=user, emoji=emoji)
    _publish_reaction("reaction.added", message=message, user=user, emoji=emoji, seq=seq)
    return message


@transaction.atomic
def reaction_remove(*, user: User, message_id: int, emoji: str) -> Message:
    """Take back one's own reaction; removing an absent reaction is a no-op."""
    emoji = _clean_emoji(emoji)
    message = access_message_react(user=user, message_id=message_id)
    if not Reaction.objects.filter(message=message, user=user, emoji=emoji).exists():
        return message
    seq = _next_channel_seq(channel_id=message.channel_id, now=timezone.now(), new_message=False)
    Reaction.objects.filter(message=message, user=user, emoji=emoji).delete()
    _publish_reaction("reaction.removed", message=message, user=user, emoji=emoji, seq=seq)
    return message


def _publish_reaction(kind: str, *, message: Message, user: User, emoji: str, seq: int) -> None:
    Message.objects.filter(pk=message.pk).update(version=seq)
    message.version = seq
    reactions = events.reactions_payload(Reaction.objects.filter(message=message))
    publish_on_commit(
        {
            "type": kind,
            "channel_id": message.channel_id,
            "channel_seq": seq,
            "message_id": message.pk,
            "user_id": user.pk,
            "emoji": emoji,
            "reactions": reactions,
        },
        to=Audience.channel(message.channel_id),
    )
