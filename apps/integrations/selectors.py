"""Reads of the integration platform."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from apps.accounts.models import APIToken, User
from apps.chat.models import Message
from apps.chat.permissions import access_channel_read
from apps.core.features import access_feature, feature_enabled
from apps.integrations import events
from apps.integrations.models import (
    Bot,
    IncomingWebhook,
    LinkPreview,
    MessageActions,
    OutgoingWebhook,
    Poll,
)
from apps.integrations.permissions import FLAG, access_bot_manage
from apps.integrations.previews import FLAG as PREVIEWS_FLAG


def bot_payload(bot: Bot) -> dict[str, Any]:
    return {
        "id": bot.pk,
        "user_id": bot.user_id,
        "username": bot.user.username,
        "display_name": bot.user.display_name,
        "description": bot.description,
        "endpoint_url": bot.endpoint_url,
        "owner_id": bot.owner_id,
        "created_at": bot.created_at.isoformat(),
        "is_active": bot.deactivated_at is None,
    }


def bots_for(*, user: User) -> list[dict[str, Any]]:
    """Bots the user manages: their own; every bot for administrators."""
    access_feature(user=user, name=FLAG)
    bots = Bot.objects.select_related("user").order_by("user__username")
    if not user.is_org_admin:
        bots = bots.filter(owner=user)
    return [bot_payload(b) for b in bots]


def bot_detail(*, user: User, bot_id: int) -> dict[str, Any]:
    """A bot with its tokens, webhooks and signing secret (owner and administrators)."""
    bot = access_bot_manage(user=user, bot_id=bot_id)
    tokens = APIToken.objects.filter(user=bot.user, revoked_at__isnull=True).order_by("pk")
    return {
        **bot_payload(bot),
        "signing_secret": bot.signing_secret,
        "tokens": [
            {"id": t.pk, "name": t.name, "prefix": t.prefix, "created_at": t.created_at.isoformat()}
            for t in tokens
        ],
        "incoming_webhooks": [
            {
                "id": h.pk,
                "name": h.name,
                "channel_id": h.channel_id,
                "token_prefix": h.token_prefix,
                "last_used_at": h.last_used_at.isoformat() if h.last_used_at else None,
            }
            for h in IncomingWebhook.objects.filter(bot=bot, revoked_at__isnull=True)
        ],
        "outgoing_webhooks": [
            {
                "id": h.pk,
                "name": h.name,
                "channel_id": h.channel_id,
                "url": h.url,
                "trigger_words": h.trigger_words,
                "signing_secret": h.signing_secret,
            }
            for h in OutgoingWebhook.objects.filter(bot=bot, revoked_at__isnull=True)
        ],
    }


def message_extras(*, user: User, channel_id: int, message_ids: Iterable[int]) -> dict[str, Any]:
    """Polls, buttons and link previews of messages of a channel the user may read."""
    access_channel_read(user=user, channel_id=channel_id)
    ids = list(
        Message.objects.filter(channel_id=channel_id, pk__in=list(message_ids)[:200]).values_list(
            "pk", flat=True
        )
    )
    polls = {
        str(p.message_id): events.poll_payload(p) for p in Poll.objects.filter(message_id__in=ids)
    }
    actions = {
        str(a.message_id): a.actions for a in MessageActions.objects.filter(message_id__in=ids)
    }
    previews: dict[str, list[events.PreviewPayload]] = {}
    if feature_enabled(user=user, name=PREVIEWS_FLAG):
        for preview in LinkPreview.objects.filter(
            message_id__in=ids, removed_at__isnull=True
        ).order_by("pk"):
            previews.setdefault(str(preview.message_id), []).append(events.preview_payload(preview))
    return {"polls": polls, "actions": actions, "previews": previews}
