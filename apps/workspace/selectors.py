"""Reads of the workplace: default channels and my saved messages."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.chat.models import Channel, ChannelKind, Membership
from apps.chat.selectors import load_rows, payloads
from apps.core.errors import Forbidden, NotAuthenticated
from apps.workspace.events import SavedItemPayload
from apps.workspace.models import SavedMessage
from apps.workspace.permissions import access_workspace_admin
from apps.workspace.services import default_channels_ensure


def default_channel_payload(channel: Channel) -> dict[str, Any]:
    return {"id": channel.pk, "name": channel.name, "kind": channel.kind}


def default_channels_list(*, user: User) -> list[dict[str, Any]]:
    """The default channels, for administrators (seeded with #general on first use)."""
    access_workspace_admin(user=user)
    channels = sorted(default_channels_ensure(), key=lambda c: c.name)
    return [default_channel_payload(c) for c in channels]


def saved_messages_list(*, user: User) -> list[SavedItemPayload]:
    """My saved messages, newest save first, keeping only those I may still read now.

    Read permission is chat's `access_channel_read` rule, applied in the query: the message is
    not deleted and I am a member of its channel, or it is public and I am not a guest. Four
    queries whatever the number of saved messages (five when some have attachments).
    """
    if not user.is_authenticated:
        raise NotAuthenticated()
    if not user.is_active:
        raise Forbidden(_("This account is deactivated."), code="account_deactivated")
    readable = Q(Exists(Membership.objects.filter(channel=OuterRef("message__channel"), user=user)))
    if not user.is_guest:
        readable |= Q(message__channel__kind=ChannelKind.PUBLIC)
    saved = list(
        SavedMessage.objects.filter(readable, user=user, message__deleted_at__isnull=True)
        .order_by("-saved_at", "-id")
        .values_list("message_id", "saved_at", "message__channel_id", "message__channel__name")[
            : settings.ENCLAVE_SAVED_PER_USER
        ]
    )
    by_id = {
        payload["id"]: payload
        for payload in payloads(load_rows([message_id for message_id, *_rest in saved]))
    }
    return [
        {
            "saved_at": saved_at.isoformat(),
            "channel_id": channel_id,
            "channel_name": channel_name,
            "message": by_id[message_id],
        }
        for message_id, saved_at, channel_id, channel_name in saved
        if message_id in by_id
    ]
