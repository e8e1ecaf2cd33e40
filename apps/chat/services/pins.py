"""Writes on pins: a message pinned to its channel, seen by every member."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.chat import events
from apps.chat.models import Message, MessagePin
from apps.chat.permissions import access_message_pin
from apps.chat.services._common import _next_channel_seq
from apps.core.errors import Conflict
from apps.core.events import Audience, publish_on_commit

# The feature flag of pins and of saved messages (apps.workspace), which ship together.
FLAG = "pins_saved"


@transaction.atomic
def message_pin(*, user: User, message_id: int) -> Message:
    """Pin a message to its channel; pinning a pinned message is a no-op.

    A channel holds at most `ENCLAVE_PINS_PER_CHANNEL` pins (409 `pin_limit_reached`).
    """
    message = access_message_pin(user=user, message_id=message_id)
    if MessagePin.objects.filter(message=message).exists():
        return message
    # The sequence first: it locks the channel row, so two pins cannot both pass the limit.
    seq = _next_channel_seq(channel_id=message.channel_id, now=timezone.now(), new_message=False)
    limit = settings.ENCLAVE_PINS_PER_CHANNEL
    if MessagePin.objects.filter(channel_id=message.channel_id).count() >= limit:
        raise Conflict(
            _("This channel already has %(limit)d pinned messages. Unpin one first.")
            % {"limit": limit},
            code="pin_limit_reached",
            details={"limit": limit},
        )
    pin = MessagePin.objects.create(
        message=message, channel_id=message.channel_id, pinned_by=user, pinned_at=timezone.now()
    )
    _publish_pin(
        "pin.added",
        message=message,
        user=user,
        seq=seq,
        pinned=events.pin_payload(pin, pinned_by_name=user.name),
    )
    return message


@transaction.atomic
def message_unpin(*, user: User, message_id: int) -> Message:
    """Unpin a message (anyone who may pin may unpin); unpinning an unpinned one is a no-op."""
    message = access_message_pin(user=user, message_id=message_id)
    if not MessagePin.objects.filter(message=message).exists():
        return message
    seq = _next_channel_seq(channel_id=message.channel_id, now=timezone.now(), new_message=False)
    MessagePin.objects.filter(message=message).delete()
    _publish_pin("pin.removed", message=message, user=user, seq=seq, pinned=None)
    return message


def _publish_pin(
    kind: str, *, message: Message, user: User, seq: int, pinned: events.PinPayload | None
) -> None:
    Message.objects.filter(pk=message.pk).update(version=seq)
    message.version = seq
    publish_on_commit(
        {
            "type": kind,
            "channel_id": message.channel_id,
            "channel_seq": seq,
            "message_id": message.pk,
            "user_id": user.pk,
            "pinned": pinned,
        },
        to=Audience.channel(message.channel_id),
    )
