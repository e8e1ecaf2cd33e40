"""Writes of the integration platform. Every function checks its actor (via `permissions`),
writes, records an audit event where an admin would ask "who did this", and publishes its
events after commit. Outbound calls happen only in tasks (`tasks.py` calls back in here).
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import shlex
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts import services as account_services
from apps.accounts.audit import audit_record
from apps.accounts.models import APIToken, Role, User
from apps.accounts.permissions import OrgAction, access_org_action
from apps.chat import services as chat_services
from apps.chat.models import Channel, Membership, Mention, Message
from apps.chat.permissions import (
    access_channel_participate,
    access_channel_post,
    access_channel_read,
    access_message_read,
)
from apps.core.egress import EgressError, EgressRefused, EgressResponse, guarded_request
from apps.core.errors import Forbidden, InvalidInput, NotFound
from apps.core.events import Audience, publish_on_commit
from apps.core.features import access_feature, feature_enabled
from apps.integrations import events, formats, signing, snapshot
from apps.integrations.models import (
    Bot,
    CustomCommand,
    IncomingWebhook,
    IntegrationSettings,
    LinkPreview,
    MessageActions,
    OutgoingDelivery,
    OutgoingWebhook,
    Poll,
    PollOption,
    PollVote,
)
from apps.integrations.permissions import FLAG, access_bot_manage, access_integrations_admin

logger = logging.getLogger(__name__)

WEBHOOK_TOKEN_PREFIX = "whk_"  # noqa: S105 - a public marker, not a secret
MAX_OUTGOING_ATTEMPTS = 5


# --- outbound requests --------------------------------------------------------------------------


def _post_signed(url: str, *, secret: str, body: bytes) -> EgressResponse:
    """POST `body` to an integration's endpoint, signed with its secret, through the egress
    guard with the integrations' response size and time limits and no redirects."""
    return guarded_request(
        "POST",
        url,
        headers=signing.signed_headers(secret=secret, body=body),
        body=body,
        max_bytes=settings.ENCLAVE_INTEGRATION_MAX_RESPONSE_BYTES,
        timeout=settings.ENCLAVE_INTEGRATION_TIMEOUT_SECONDS,
        max_redirects=0,
    )


# --- settings -----------------------------------------------------------------------------------


def integration_settings() -> IntegrationSettings:
    row, _created = IntegrationSettings.objects.get_or_create(pk=1)
    return row


def integration_settings_update(
    *, actor: User, egress_allowed_hosts: str | None = None, link_preview_hosts: str | None = None
) -> IntegrationSettings:
    """Change the organisation's trusted hosts (administrators)."""
    access_integrations_admin(user=actor)
    row = integration_settings()
    if egress_allowed_hosts is not None:
        row.egress_allowed_hosts = egress_allowed_hosts
    if link_preview_hosts is not None:
        row.link_preview_hosts = link_preview_hosts
    row.save()
    audit_record(
        action="integrations.settings_changed",
        actor=actor,
        target_type="integration_settings",
        target_id=1,
        metadata={
            "egress_allowed_hosts": row.egress_allowed_hosts,
            "link_preview_hosts": row.link_preview_hosts,
        },
    )
    snapshot.forget_cached_settings()
    return row


# --- bots ---------------------------------------------------------------------------------------


def _check_endpoint(url: str) -> str:
    url = url.strip()
    if url and not url.startswith(("http://", "https://")):
        raise InvalidInput(_("The endpoint must be an http or https URL."), code="invalid_url")
    return url


@transaction.atomic
def bot_create(
    *,
    actor: User,
    username: str,
    display_name: str = "",
    description: str = "",
    endpoint_url: str = "",
) -> tuple[Bot, str]:
    """Create a bot account owned by `actor` and its first API token (raw value, shown once).

    Who may: the organisation setting `bot_creators` (administrators by default).
    """
    access_feature(user=actor, name=FLAG)
    access_org_action(user=actor, action=OrgAction.CREATE_BOT)
    user = account_services.user_create(
        username=username,
        password=None,
        display_name=display_name or username,
        role=Role.MEMBER,
        is_bot=True,
    )
    bot = Bot.objects.create(
        user=user,
        owner=actor,
        description=description[:300],
        endpoint_url=_check_endpoint(endpoint_url),
        signing_secret=signing.new_secret(),
    )
    _token, raw = account_services.api_token_create(user=user, name="default")
    audit_record(action="integrations.bot_created", actor=actor, target=user)
    return bot, raw


@transaction.atomic
def bot_update(
    *,
    actor: User,
    bot_id: int,
    display_name: str | None = None,
    description: str | None = None,
    endpoint_url: str | None = None,
) -> Bot:
    """Change a bot's name, description or endpoint (its owner, administrators)."""
    bot = access_bot_manage(user=actor, bot_id=bot_id)
    if display_name is not None and display_name.strip():
        bot.user.display_name = display_name.strip()[:150]
        bot.user.save(update_fields=["display_name"])
    if description is not None:
        bot.description = description[:300]
    if endpoint_url is not None:
        bot.endpoint_url = _check_endpoint(endpoint_url)
    bot.save(update_fields=["description", "endpoint_url"])
    audit_record(action="integrations.bot_changed", actor=actor, target=bot.user)
    return bot


@transaction.atomic
def bot_token_create(*, actor: User, bot_id: int, name: str) -> tuple[APIToken, str]:
    """Another API token for the bot (raw value returned once)."""
    bot = access_bot_manage(user=actor, bot_id=bot_id)
    if bot.deactivated_at is not None:
        raise Forbidden(_("This bot is deactivated."), code="bot_deactivated")
    token, raw = account_services.api_token_create(user=bot.user, name=name)
    audit_record(
        action="integrations.bot_token_created",
        actor=actor,
        target=bot.user,
        metadata={"token_id": token.pk, "name": token.name},
    )
    return token, raw


@transaction.atomic
def bot_token_revoke(*, actor: User, bot_id: int, token_id: int) -> None:
    """Revoke one of the bot's tokens; its sockets close at once."""
    bot = access_bot_manage(user=actor, bot_id=bot_id)
    account_services.api_token_revoke(user=bot.user, token_id=token_id)
    audit_record(
        action="integrations.bot_token_revoked",
        actor=actor,
        target=bot.user,
        metadata={"token_id": token_id},
    )


@transaction.atomic
def bot_deactivate(*, actor: User, bot_id: int) -> Bot:
    """Turn a bot off: its account is deactivated, every token revoked, its hooks stop."""
    bot = access_bot_manage(user=actor, bot_id=bot_id)
    if bot.deactivated_at is not None:
        return bot
    for token_id in APIToken.objects.filter(user=bot.user, revoked_at__isnull=True).values_list(
        "pk", flat=True
    ):
        account_services.api_token_revoke(user=bot.user, token_id=token_id)
    bot.user.is_active = False
    bot.user.save(update_fields=["is_active"])
    bot.deactivated_at = timezone.now()
    bot.save(update_fields=["deactivated_at"])
    audit_record(action="integrations.bot_deactivated", actor=actor, target=bot.user)
    return bot


def _bot_joins(*, actor: User, bot: Bot, channel: Channel) -> None:
    """Make the bot a member of `channel` (it posts through the normal send service)."""
    if Membership.objects.filter(channel=channel, user=bot.user).exists():
        return
    chat_services.channel_invite(actor=actor, channel_id=channel.pk, user_ids=[bot.user.pk])


def _hook_channel(*, actor: User, channel_id: int) -> Channel:
    channel, _membership = access_channel_post(user=actor, channel_id=channel_id)
    if channel.is_direct:
        raise InvalidInput(
            _("Webhooks post in channels, not direct messages."), code="direct_channel"
        )
    return channel


# --- incoming webhooks --------------------------------------------------------------------------


def webhook_token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def incoming_webhook_create(
    *, actor: User, bot_id: int, channel_id: int, name: str
) -> tuple[IncomingWebhook, str]:
    """A secret URL that posts to `channel_id` as the bot. Returns the raw token (once)."""
    bot = access_bot_manage(user=actor, bot_id=bot_id)
    if bot.deactivated_at is not None:
        raise Forbidden(_("This bot is deactivated."), code="bot_deactivated")
    channel = _hook_channel(actor=actor, channel_id=channel_id)
    name = name.strip()
    if not name:
        raise InvalidInput(_("Give the webhook a name."), code="name_required")
    _bot_joins(actor=actor, bot=bot, channel=channel)
    raw = WEBHOOK_TOKEN_PREFIX + secrets.token_urlsafe(32)
    hook = IncomingWebhook.objects.create(
        bot=bot,
        channel=channel,
        name=name[:100],
        token_prefix=raw[:12],
        token_digest=webhook_token_digest(raw),
        created_by=actor,
    )
    audit_record(
        action="integrations.incoming_webhook_created",
        actor=actor,
        target=hook,
        metadata={"channel_id": channel.pk, "bot_id": bot.pk},
    )
    return hook, raw


@transaction.atomic
def incoming_webhook_revoke(*, actor: User, webhook_id: int) -> None:
    hook = IncomingWebhook.objects.select_related("bot").filter(pk=webhook_id).first()
    if hook is None:
        raise NotFound(_("No such webhook."), code="webhook_not_found")
    access_bot_manage(user=actor, bot_id=hook.bot_id)
    if hook.revoked_at is None:
        hook.revoked_at = timezone.now()
        hook.save(update_fields=["revoked_at"])
        audit_record(action="integrations.incoming_webhook_revoked", actor=actor, target=hook)


def incoming_webhook_post(
    *, raw_token: str, fmt: str, payload: Any, headers: dict[str, str]
) -> Message:
    """Post what a webhook received in its channel, as its bot, through the send service."""
    render = formats.FORMATS.get(fmt)
    if render is None:
        raise NotFound(_("Unknown webhook format."), code="unknown_format")
    hook = (
        IncomingWebhook.objects.select_related("bot__user", "bot__owner")
        .filter(token_digest=webhook_token_digest(raw_token), revoked_at__isnull=True)
        .first()
    )
    if hook is None:
        raise NotFound(_("No such webhook."), code="webhook_not_found")
    bot = hook.bot
    if bot.deactivated_at is not None or not bot.user.is_active:
        raise Forbidden(_("This webhook's bot is deactivated."), code="bot_deactivated")
    if not feature_enabled(user=bot.owner, name=FLAG):
        raise NotFound(_("No such webhook."), code="webhook_not_found")
    text = render(payload, headers)
    limit = settings.ENCLAVE_MAX_MESSAGE_CHARS
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    result = chat_services.message_send(sender=bot.user, channel_id=hook.channel_id, body=text)
    now = timezone.now()
    if hook.last_used_at is None or (now - hook.last_used_at).total_seconds() > 60:
        IncomingWebhook.objects.filter(pk=hook.pk).update(last_used_at=now)
    return result.message


# --- outgoing webhooks --------------------------------------------------------------------------


@transaction.atomic
def outgoing_webhook_create(
    *, actor: User, bot_id: int, channel_id: int, name: str, url: str, trigger_words: str = ""
) -> OutgoingWebhook:
    """Send messages of `channel_id` that start with a trigger word or mention the bot to
    `url` (signed with the returned webhook's `signing_secret`)."""
    bot = access_bot_manage(user=actor, bot_id=bot_id)
    if bot.deactivated_at is not None:
        raise Forbidden(_("This bot is deactivated."), code="bot_deactivated")
    channel = _hook_channel(actor=actor, channel_id=channel_id)
    url = _check_endpoint(url)
    if not url:
        raise InvalidInput(_("The URL is required."), code="invalid_url")
    if not name.strip():
        raise InvalidInput(_("Give the webhook a name."), code="name_required")
    _bot_joins(actor=actor, bot=bot, channel=channel)
    hook = OutgoingWebhook.objects.create(
        bot=bot,
        channel=channel,
        name=name.strip()[:100],
        url=url,
        trigger_words=" ".join(trigger_words.split())[:300],
        signing_secret=signing.new_secret(),
        created_by=actor,
    )
    audit_record(
        action="integrations.outgoing_webhook_created",
        actor=actor,
        target=hook,
        metadata={"channel_id": channel.pk, "url": url},
    )
    transaction.on_commit(snapshot.forget_cached_settings)
    return hook


@transaction.atomic
def outgoing_webhook_revoke(*, actor: User, webhook_id: int) -> None:
    hook = OutgoingWebhook.objects.filter(pk=webhook_id).first()
    if hook is None:
        raise NotFound(_("No such webhook."), code="webhook_not_found")
    access_bot_manage(user=actor, bot_id=hook.bot_id)
    if hook.revoked_at is None:
        hook.revoked_at = timezone.now()
        hook.save(update_fields=["revoked_at"])
        audit_record(action="integrations.outgoing_webhook_revoked", actor=actor, target=hook)
    transaction.on_commit(snapshot.forget_cached_settings)


def _first_word(body: str) -> str:
    parts = body.split(None, 1)
    return parts[0].lower() if parts else ""


def outgoing_deliveries_create(*, message_id: int) -> list[int]:
    """The deliveries a new message causes (trigger word first, or a mention of the bot)."""
    message = Message.objects.select_related("sender").filter(pk=message_id).first()
    if message is None or message.deleted_at is not None or message.sender.is_bot:
        return []
    if not feature_enabled(user=message.sender, name=FLAG):
        return []
    hooks = list(
        OutgoingWebhook.objects.select_related("bot__user").filter(
            channel_id=message.channel_id,
            revoked_at__isnull=True,
            bot__deactivated_at__isnull=True,
        )
    )
    if not hooks:
        return []
    mentioned = set(Mention.objects.filter(message=message).values_list("user_id", flat=True))
    first = _first_word(message.body)
    created: list[int] = []
    for hook in hooks:
        if first not in hook.words() and hook.bot.user_id not in mentioned:
            continue
        try:
            with transaction.atomic():
                delivery = OutgoingDelivery.objects.create(webhook=hook, message=message)
        except IntegrityError:
            continue  # already queued (a task retried)
        created.append(delivery.pk)
    return created


def _outgoing_payload(delivery: OutgoingDelivery) -> dict[str, Any]:
    message = delivery.message
    hook = delivery.webhook
    first = _first_word(message.body)
    return {
        "type": "message",
        "webhook_id": hook.pk,
        "delivery_id": delivery.pk,
        "channel_id": message.channel_id,
        "channel_name": message.channel.name,
        "message_id": message.pk,
        "thread_root_id": message.thread_root_id,
        "user_id": message.sender_id,
        "user_name": message.sender.username,
        "text": message.body,
        "trigger_word": first if first in hook.words() else None,
        "timestamp": message.created_at.isoformat(),
    }


@dataclass(frozen=True)
class DeliveryOutcome:
    done: bool  # delivered, or failed for good
    retry: bool


def _reply_text(body: bytes) -> tuple[str, bool]:
    """(text, in thread?) from a bot's JSON answer; ("", False) when it says nothing."""
    if not body.strip():
        return "", False
    try:
        answer = json.loads(body)
    except ValueError:
        return "", False
    if not isinstance(answer, dict) or not isinstance(answer.get("text"), str):
        return "", False
    return answer["text"].strip(), bool(answer.get("thread"))


def outgoing_deliver(*, delivery_id: int) -> DeliveryOutcome:
    """One attempt at a delivery: POST the signed message; a JSON `text` answer is posted as
    the bot's reply. A refused address fails at once; other failures are retried by the task
    (`retry=True`) until MAX_OUTGOING_ATTEMPTS."""
    delivery = (
        OutgoingDelivery.objects.select_related(
            "webhook__bot__user", "message__sender", "message__channel"
        )
        .filter(pk=delivery_id)
        .first()
    )
    if delivery is None or delivery.state != OutgoingDelivery.State.PENDING:
        return DeliveryOutcome(done=True, retry=False)
    hook = delivery.webhook
    if hook.revoked_at is not None or hook.bot.deactivated_at is not None:
        _finish(delivery, OutgoingDelivery.State.FAILED, "webhook revoked")
        return DeliveryOutcome(done=True, retry=False)
    body = json.dumps(_outgoing_payload(delivery)).encode()
    delivery.attempts += 1
    try:
        response = _post_signed(hook.url, secret=hook.signing_secret, body=body)
    except EgressRefused as error:
        _finish(delivery, OutgoingDelivery.State.FAILED, error.code)
        return DeliveryOutcome(done=True, retry=False)
    except EgressError as error:
        return _attempt_failed(delivery, error.code)
    if not 200 <= response.status < 300:
        return _attempt_failed(delivery, f"HTTP {response.status}")
    _finish(delivery, OutgoingDelivery.State.DELIVERED, "")
    text, in_thread = _reply_text(response.body)
    if text:
        message = delivery.message
        try:
            chat_services.message_send(
                sender=hook.bot.user,
                channel_id=message.channel_id,
                body=text[: settings.ENCLAVE_MAX_MESSAGE_CHARS],
                thread_root_id=(message.thread_root_id or message.pk) if in_thread else None,
            )
        except (InvalidInput, Forbidden, NotFound) as error:
            logger.info("Outgoing webhook %d reply refused: %s", hook.pk, error.code)
    return DeliveryOutcome(done=True, retry=False)


def _attempt_failed(delivery: OutgoingDelivery, reason: str) -> DeliveryOutcome:
    if delivery.attempts >= MAX_OUTGOING_ATTEMPTS:
        _finish(delivery, OutgoingDelivery.State.FAILED, reason)
        return DeliveryOutcome(done=True, retry=False)
    delivery.last_error = reason[:200]
    delivery.save(update_fields=["attempts", "last_error"])
    return DeliveryOutcome(done=False, retry=True)


def _finish(delivery: OutgoingDelivery, state: str, reason: str) -> None:
    delivery.state = state
    delivery.last_error = reason[:200]
    delivery.finished_at = timezone.now()
    delivery.save(update_fields=["state", "attempts", "last_error", "finished_at"])


# --- custom slash commands ----------------------------------------------------------------------


def _command_name(name: str) -> str:
    from apps.chat.commands import split_command

    parts = split_command("/" + name.strip().lstrip("/"))
    if parts is None or parts[1]:
        raise InvalidInput(
            _("A command name is letters, digits, - and _ (up to 32)."), code="invalid_name"
        )
    return parts[0]


@transaction.atomic
def custom_command_create(
    *, actor: User, name: str, description: str, url: str, bot_id: int, usage: str = ""
) -> CustomCommand:
    """Define `/name` calling `url` (administrators). Built-in names cannot be taken."""
    from apps.chat.commands import _COMMANDS

    access_integrations_admin(user=actor)
    name = _command_name(name)
    if name in _COMMANDS or CustomCommand.objects.filter(name=name).exists():
        raise InvalidInput(_("This command already exists."), code="command_exists")
    url = _check_endpoint(url)
    if not url:
        raise InvalidInput(_("The URL is required."), code="invalid_url")
    bot = Bot.objects.filter(pk=bot_id, deactivated_at__isnull=True).first()
    if bot is None:
        raise NotFound(_("No such bot."), code="bot_not_found")
    command = CustomCommand.objects.create(
        name=name,
        description=description.strip()[:200] or name,
        usage=usage.strip()[:200],
        url=url,
        bot=bot,
        signing_secret=signing.new_secret(),
        created_by=actor,
    )
    audit_record(
        action="integrations.command_created", actor=actor, target=command, metadata={"url": url}
    )
    return command


@transaction.atomic
def custom_command_delete(*, actor: User, command_id: int) -> None:
    access_integrations_admin(user=actor)
    command = CustomCommand.objects.filter(pk=command_id).first()
    if command is None:
        raise NotFound(_("No such command."), code="command_not_found")
    audit_record(action="integrations.command_deleted", actor=actor, target=command)
    command.delete()


def custom_command_call(
    *, command_id: int, user_id: int, channel_id: int, args: str, thread_root_id: int | None
) -> None:
    """Call a custom command's endpoint (from its task) and act on the answer:
    `{"text": ..., "response_type": "in_channel"}` is posted as the command's bot, anything
    else is shown to the caller only (a `command.response` event)."""
    command = CustomCommand.objects.select_related("bot__user").filter(pk=command_id).first()
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if command is None or user is None:
        return
    channel, membership = access_channel_read(user=user, channel_id=channel_id)
    if membership is None:
        return
    payload = {
        "type": "command",
        "command": "/" + command.name,
        "text": args,
        "user_id": user.pk,
        "user_name": user.username,
        "channel_id": channel.pk,
        "channel_name": channel.name,
        "thread_root_id": thread_root_id,
    }
    body = json.dumps(payload).encode()
    try:
        response = _post_signed(command.url, secret=command.signing_secret, body=body)
    except EgressError as error:
        _ephemeral(
            user,
            channel.pk,
            _("/%(name)s failed: %(reason)s") % {"name": command.name, "reason": error.message},
        )
        return
    if not 200 <= response.status < 300:
        _ephemeral(
            user,
            channel.pk,
            _("/%(name)s failed: the endpoint answered %(status)d.")
            % {"name": command.name, "status": response.status},
        )
        return
    try:
        answer = json.loads(response.body or b"{}")
    except ValueError:
        answer = {"text": response.body.decode("utf-8", "replace")}
    if not isinstance(answer, dict):
        return
    text = str(answer.get("text") or "").strip()
    if not text:
        return
    bot_is_member = Membership.objects.filter(channel=channel, user=command.bot.user).exists()
    if answer.get("response_type") == "in_channel" and not bot_is_member:
        # Joining on the caller's word would hand the bot's owner a private channel.
        text = _("%(text)s\n(Add @%(bot)s to this channel to let it answer here.)") % {
            "text": text,
            "bot": command.bot.user.username,
        }
    elif answer.get("response_type") == "in_channel":
        chat_services.message_send(
            sender=command.bot.user,
            channel_id=channel.pk,
            body=text[: settings.ENCLAVE_MAX_MESSAGE_CHARS],
            thread_root_id=thread_root_id,
        )
        return
    _ephemeral(user, channel.pk, text[:4000])


def _ephemeral(user: User, channel_id: int, text: str) -> None:
    publish_on_commit(
        {"type": "command.response", "channel_id": channel_id, "text": text},
        to=Audience.users([user.pk]),
    )


# --- polls --------------------------------------------------------------------------------------

MAX_POLL_OPTIONS = 10


def parse_poll(args: str) -> tuple[str, list[str]]:
    """`"question" "answer" "answer"` -> (question, answers); 2 to 10 answers."""
    try:
        parts = [p.strip() for p in shlex.split(args.replace("“", '"').replace("”", '"'))]
    except ValueError:
        raise InvalidInput(
            _('Quote the question and each answer: /poll "Lunch?" "Noodles" "Rice"'),
            code="invalid_poll",
        ) from None
    parts = [p for p in parts if p]
    if len(parts) < 3 or len(parts) > MAX_POLL_OPTIONS + 1:
        raise InvalidInput(
            _('A poll needs a question and 2 to 10 answers: /poll "Lunch?" "Noodles" "Rice"'),
            code="invalid_poll",
        )
    return parts[0][:300], [p[:200] for p in parts[1:]]


@transaction.atomic
def poll_create(
    *,
    user: User,
    channel_id: int,
    question: str,
    options: list[str],
    client_msg_id: object = None,
    thread_root_id: int | None = None,
) -> Poll:
    """Post a poll message (the user's) with its answers; idempotent on client_msg_id."""
    lines = [f"📊 **{question}**"] + [f"{i}. {text}" for i, text in enumerate(options, 1)]
    result = chat_services.message_send(
        sender=user,
        channel_id=channel_id,
        body="\n".join(lines),
        client_msg_id=client_msg_id,
        thread_root_id=thread_root_id,
    )
    existing = Poll.objects.filter(message=result.message).first()
    if existing is not None:
        return existing
    poll = Poll.objects.create(message=result.message, question=question, created_by=user)
    PollOption.objects.bulk_create(
        [PollOption(poll=poll, position=i, text=text) for i, text in enumerate(options)]
    )
    _publish_poll(poll)
    return poll


@transaction.atomic
def poll_vote(*, user: User, poll_id: int, option_id: int | None) -> Poll:
    """Vote for `option_id` (again: the vote moves; None: take it back)."""
    poll = Poll.objects.select_related("message").filter(pk=poll_id).first()
    if poll is None:
        raise NotFound(_("No such poll."), code="poll_not_found")
    try:
        access_channel_participate(user=user, channel_id=poll.message.channel_id)
    except NotFound:
        raise NotFound(_("No such poll."), code="poll_not_found") from None
    if poll.message.deleted_at is not None:
        raise NotFound(_("No such poll."), code="poll_not_found")
    if option_id is None:
        PollVote.objects.filter(poll=poll, user=user).delete()
    else:
        option = PollOption.objects.filter(pk=option_id, poll=poll).first()
        if option is None:
            raise InvalidInput(_("No such answer."), code="invalid_option")
        PollVote.objects.update_or_create(poll=poll, user=user, defaults={"option": option})
    _publish_poll(poll)
    return poll


def _publish_poll(poll: Poll) -> None:
    publish_on_commit(
        {
            "type": "poll.updated",
            "channel_id": poll.message.channel_id,
            "poll": events.poll_payload(poll),
        },
        to=Audience.channel(poll.message.channel_id),
    )


# --- interactive buttons ------------------------------------------------------------------------

MAX_ACTIONS = 5
_STYLES = ("default", "primary", "danger")


def clean_actions(actions: Any) -> list[dict[str, str]]:
    """Validate buttons: up to 5 of {"id", "label", "style"}."""
    if not isinstance(actions, list) or len(actions) > MAX_ACTIONS:
        raise InvalidInput(_("Up to 5 buttons."), code="invalid_actions")
    cleaned: list[dict[str, str]] = []
    seen: set[str] = set()
    for action in actions:
        if not isinstance(action, dict):
            raise InvalidInput(_("A button is an object."), code="invalid_actions")
        action_id = str(action.get("id") or "").strip()[:64]
        label = str(action.get("label") or "").strip()[:80]
        style = str(action.get("style") or "default")
        if not action_id or not label or action_id in seen or style not in _STYLES:
            raise InvalidInput(
                _("Each button needs a unique id, a label and a known style."),
                code="invalid_actions",
            )
        seen.add(action_id)
        cleaned.append({"id": action_id, "label": label, "style": style})
    return cleaned


def _bot_of(user: User) -> Bot:
    bot = Bot.objects.filter(user=user, deactivated_at__isnull=True).first()
    if bot is None or not user.is_bot:
        raise Forbidden(_("Only bots post messages with buttons."), code="not_a_bot")
    return bot


@transaction.atomic
def bot_message_send(
    *,
    user: User,
    channel_id: int,
    body: str,
    actions: Any,
    client_msg_id: object = None,
    thread_root_id: int | None = None,
) -> Message:
    """A bot posts a message carrying buttons."""
    bot = _bot_of(user)
    cleaned = clean_actions(actions)
    result = chat_services.message_send(
        sender=user,
        channel_id=channel_id,
        body=body,
        client_msg_id=client_msg_id,
        thread_root_id=thread_root_id,
    )
    if result.created and cleaned:
        row = MessageActions.objects.create(message=result.message, bot=bot, actions=cleaned)
        _publish_actions(row)
    return result.message


def _publish_actions(row: MessageActions) -> None:
    publish_on_commit(
        {
            "type": "message.actions",
            "channel_id": row.message.channel_id,
            "message_id": row.message_id,
            "actions": row.actions,
        },
        to=Audience.channel(row.message.channel_id),
    )


def action_click_check(*, user: User, message_id: int, action_id: str) -> MessageActions:
    """The buttons of a message the user may act in, with `action_id` among them."""
    access_feature(user=user, name=FLAG)
    message, _membership = access_message_read(user=user, message_id=message_id)
    access_channel_participate(user=user, channel_id=message.channel_id)
    row = (
        MessageActions.objects.select_related("bot__user", "message")
        .filter(message_id=message.pk)
        .first()
    )
    if row is None or not any(a["id"] == action_id for a in row.actions):
        raise NotFound(_("No such button."), code="action_not_found")
    if row.bot.deactivated_at is not None or not row.bot.endpoint_url:
        raise Forbidden(_("This bot does not take clicks."), code="bot_unavailable")
    return row


def action_click_deliver(*, user_id: int, message_id: int, action_id: str) -> None:
    """Send a click to the bot (from its task); the answer may update the message
    (`{"update": {"text": ..., "actions": [...]}}`) or tell the clicker (`{"text": ...}`)."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return
    try:
        row = action_click_check(user=user, message_id=message_id, action_id=action_id)
    except (NotFound, Forbidden):
        return
    bot = row.bot
    body = json.dumps(
        {
            "type": "action",
            "action_id": action_id,
            "message_id": row.message_id,
            "channel_id": row.message.channel_id,
            "user_id": user.pk,
            "user_name": user.username,
            "message_text": row.message.body,
        }
    ).encode()
    try:
        response = _post_signed(bot.endpoint_url, secret=bot.signing_secret, body=body)
    except EgressError as error:
        _ephemeral(user, row.message.channel_id, error.message)
        return
    if not 200 <= response.status < 300:
        _ephemeral(
            user,
            row.message.channel_id,
            _("The bot answered %(status)d.") % {"status": response.status},
        )
        return
    try:
        answer = json.loads(response.body or b"{}")
    except ValueError:
        return
    if not isinstance(answer, dict):
        return
    update = answer.get("update")
    if isinstance(update, dict):
        with transaction.atomic():
            if isinstance(update.get("text"), str) and update["text"].strip():
                chat_services.message_edit(
                    user=bot.user, message_id=row.message_id, body=update["text"]
                )
            if "actions" in update:
                try:
                    row.actions = clean_actions(update["actions"])
                except InvalidInput:
                    row.actions = []
                row.save(update_fields=["actions"])
                _publish_actions(row)
    if isinstance(answer.get("text"), str) and answer["text"].strip():
        _ephemeral(user, row.message.channel_id, answer["text"].strip()[:4000])


# --- link previews ------------------------------------------------------------------------------


def link_preview_hosts() -> list[str]:
    return [
        line.strip()
        for line in integration_settings().link_preview_hosts.splitlines()
        if line.strip()
    ]


def link_previews_fetch(*, message_id: int) -> list[LinkPreview]:
    """Fetch previews of the allowed links of a message (from its task) and publish them."""
    from apps.core.egress import AllowList
    from apps.integrations import previews

    message = Message.objects.select_related("sender").filter(pk=message_id).first()
    if message is None or message.deleted_at is not None:
        return []
    if not feature_enabled(user=message.sender, name=previews.FLAG):
        return []
    hosts = link_preview_hosts()
    allow = AllowList.parse(hosts)
    made: list[LinkPreview] = []
    for url in previews.urls_in(message.body):
        host = previews.host_of(url)
        if not host or not allow.allows_host(host):
            continue
        if LinkPreview.objects.filter(message=message, url=url).exists():
            continue
        try:
            response = guarded_request(
                "GET",
                url,
                allow_hosts=hosts,
                only_allowed=True,
                headers={"Accept": "text/html"},
                max_bytes=settings.ENCLAVE_LINK_PREVIEW_MAX_BYTES,
                timeout=settings.ENCLAVE_LINK_PREVIEW_TIMEOUT_SECONDS,
            )
        except EgressError as error:
            logger.info("No preview of %s: %s", host, error.code)
            continue
        content_type = response.header("content-type")
        if response.status != 200 or "html" not in content_type:
            continue
        meta = previews.parse_html(response.body, base_url=response.url, content_type=content_type)
        if not meta.title and not meta.description:
            continue
        if meta.image_url and not allow.allows_host(previews.host_of(meta.image_url)):
            meta = previews.PageMeta(meta.title, meta.description, "", meta.site_name)
        try:
            with transaction.atomic():
                made.append(
                    LinkPreview.objects.create(
                        message=message,
                        url=url[:2000],
                        title=meta.title[:300],
                        description=meta.description[:500],
                        image_url=meta.image_url[:2000],
                        site_name=meta.site_name[:100],
                    )
                )
        except IntegrityError:
            continue
    if made:
        _publish_previews(message)
    return made


def _publish_previews(message: Message) -> None:
    live = LinkPreview.objects.filter(message=message, removed_at__isnull=True).order_by("pk")
    publish_on_commit(
        {
            "type": "link_preview.updated",
            "channel_id": message.channel_id,
            "message_id": message.pk,
            "previews": [events.preview_payload(p) for p in live],
        },
        to=Audience.channel(message.channel_id),
    )


@transaction.atomic
def link_preview_remove(*, user: User, preview_id: int) -> None:
    """The sender removes a preview from their message (for everyone)."""
    preview = LinkPreview.objects.select_related("message").filter(pk=preview_id).first()
    if preview is None or preview.removed_at is not None:
        raise NotFound(_("No such preview."), code="preview_not_found")
    message, _membership = access_message_read(user=user, message_id=preview.message_id)
    if message.sender_id != user.pk:
        raise Forbidden(_("Only the sender can remove a preview."), code="not_message_sender")
    preview.removed_at = timezone.now()
    preview.save(update_fields=["removed_at"])
    _publish_previews(message)
