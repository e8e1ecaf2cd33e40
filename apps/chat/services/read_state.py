"""Read state and typing."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.chat.events import ReceiptsUpdatedEvent
from apps.chat.models import Membership
from apps.chat.permissions import access_channel_post, access_channel_read
from apps.chat.receipts import receipts_push_wanted
from apps.core.errors import Forbidden, InvalidInput
from apps.core.events import Audience, publish_on_commit

# --- read state, typing -------------------------------------------------------------------------


@transaction.atomic
def read_mark(*, user: User, channel_id: int, seq: int) -> int:
    """Move the user's read position forward to `seq` (never backward); tell their other tabs.

    With read receipts on and a conversation small enough, its members are told too (one
    `receipts.updated` push per mark that moves the position; none for large channels).
    """
    channel, membership = access_channel_read(user=user, channel_id=channel_id)
    if membership is None:
        raise Forbidden(_("You are not a member."), code="not_member")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise InvalidInput(_("seq must be a non-negative integer."), code="invalid_seq")
    seq = min(seq, channel.last_seq)
    if seq <= membership.last_read_seq:
        return membership.last_read_seq
    Membership.objects.filter(pk=membership.pk, last_read_seq__lt=seq).update(last_read_seq=seq)
    publish_on_commit(
        {"type": "read", "channel_id": channel.pk, "last_read_seq": seq},
        to=Audience.users([user.pk]),
    )
    if receipts_push_wanted(channel=channel):
        receipt: ReceiptsUpdatedEvent = {
            "type": "receipts.updated",
            "channel_id": channel.pk,
            "user_id": user.pk,
            "seq": seq,
        }
        publish_on_commit(receipt, to=Audience.channel(channel.pk))
    return seq


def typing_notify(*, user: User, channel_id: int, thread_root_id: int | None = None) -> None:
    """Tell the channel that `user` is typing. Ephemeral: nothing is stored."""
    channel, _membership = access_channel_post(user=user, channel_id=channel_id)
    publish_on_commit(
        {
            "type": "typing",
            "channel_id": channel.pk,
            "user_id": user.pk,
            "thread_root_id": thread_root_id,
        },
        to=Audience.channel(channel.pk),
    )
