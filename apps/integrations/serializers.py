"""Input and output shapes of the integrations REST API."""

from __future__ import annotations

from rest_framework import serializers

from apps.chat.serializers import MessageOut
from apps.core.api import BoundedIntegerField


class BotCreateIn(serializers.Serializer):
    username = serializers.RegexField(r"^[\w.@+-]+$", max_length=150)
    display_name = serializers.CharField(max_length=150, required=False, default="")
    description = serializers.CharField(
        max_length=300, required=False, default="", allow_blank=True
    )
    endpoint_url = serializers.CharField(
        max_length=500, required=False, default="", allow_blank=True
    )


class BotUpdateIn(serializers.Serializer):
    display_name = serializers.CharField(max_length=150, required=False)
    description = serializers.CharField(max_length=300, required=False, allow_blank=True)
    endpoint_url = serializers.CharField(max_length=500, required=False, allow_blank=True)


class BotOut(serializers.Serializer):
    id = BoundedIntegerField()
    user_id = BoundedIntegerField()
    username = serializers.CharField()
    display_name = serializers.CharField()
    description = serializers.CharField()
    endpoint_url = serializers.CharField()
    owner_id = BoundedIntegerField()
    created_at = serializers.DateTimeField()
    is_active = serializers.BooleanField()


class BotTokenOut(serializers.Serializer):
    id = BoundedIntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField(help_text="The token's first characters, to recognise it.")
    created_at = serializers.DateTimeField()


class IncomingWebhookOut(serializers.Serializer):
    id = BoundedIntegerField()
    name = serializers.CharField()
    channel_id = BoundedIntegerField()
    token_prefix = serializers.CharField()
    last_used_at = serializers.DateTimeField(allow_null=True)


class BotCreatedOut(BotOut):
    token = serializers.CharField(help_text="The bot's first API token, shown this once.")


class BotTokenCreateIn(serializers.Serializer):
    name = serializers.CharField(max_length=100)


class BotTokenCreatedOut(serializers.Serializer):
    id = BoundedIntegerField()
    name = serializers.CharField()
    token = serializers.CharField(help_text="Shown this once.")


class IncomingWebhookIn(serializers.Serializer):
    channel_id = BoundedIntegerField()
    name = serializers.CharField(max_length=100)


class IncomingWebhookCreatedOut(serializers.Serializer):
    id = BoundedIntegerField()
    name = serializers.CharField()
    channel_id = BoundedIntegerField()
    url = serializers.CharField(
        help_text="Slack format; append gitlab/, jenkins/ or alertmanager/."
    )


class OutgoingWebhookIn(serializers.Serializer):
    channel_id = BoundedIntegerField()
    name = serializers.CharField(max_length=100)
    url = serializers.CharField(max_length=500)
    trigger_words = serializers.CharField(
        max_length=300, required=False, default="", allow_blank=True
    )


class OutgoingWebhookOut(serializers.Serializer):
    id = BoundedIntegerField()
    name = serializers.CharField()
    channel_id = BoundedIntegerField()
    url = serializers.CharField()
    trigger_words = serializers.CharField()
    signing_secret = serializers.CharField()


class BotDetailOut(BotOut):
    signing_secret = serializers.CharField(help_text="Signs what Enclave sends to the bot.")
    tokens = BotTokenOut(many=True, help_text="Its API tokens not revoked.")
    incoming_webhooks = IncomingWebhookOut(many=True)
    outgoing_webhooks = OutgoingWebhookOut(many=True)


class CustomCommandIn(serializers.Serializer):
    name = serializers.CharField(max_length=33)
    description = serializers.CharField(max_length=200)
    usage = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)
    url = serializers.CharField(max_length=500)
    bot_id = BoundedIntegerField()


class CustomCommandOut(serializers.Serializer):
    id = BoundedIntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    usage = serializers.CharField()
    url = serializers.CharField()
    bot_id = BoundedIntegerField()
    signing_secret = serializers.CharField()


class PollVoteIn(serializers.Serializer):
    option_id = BoundedIntegerField(allow_null=True)


class PollOptionOut(serializers.Serializer):
    id = BoundedIntegerField()
    text = serializers.CharField()
    votes = BoundedIntegerField()


class PollOut(serializers.Serializer):
    id = BoundedIntegerField()
    message_id = BoundedIntegerField()
    question = serializers.CharField()
    options = PollOptionOut(many=True)
    total_votes = BoundedIntegerField()


class ActionOut(serializers.Serializer):
    id = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # the API field, not Field.label
    style = serializers.CharField()  # type: ignore[assignment]  # the API field, not Field.style


class LinkPreviewOut(serializers.Serializer):
    id = BoundedIntegerField()
    url = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    image_url = serializers.CharField()
    site_name = serializers.CharField()


class MessageExtrasOut(serializers.Serializer):
    polls = serializers.DictField(child=PollOut(), help_text="By message id.")
    actions = serializers.DictField(
        child=serializers.ListField(child=ActionOut()), help_text="A bot message's buttons."
    )
    previews = serializers.DictField(
        child=serializers.ListField(child=LinkPreviewOut()),
        help_text="Link previews by message id (empty without the link_previews feature).",
    )


class BotMessageSentOut(serializers.Serializer):
    message = MessageOut()


class ActionClickOut(serializers.Serializer):
    queued = serializers.BooleanField(help_text="The click is on its way to the bot.")


class BotMessageIn(serializers.Serializer):
    channel_id = BoundedIntegerField()
    body = serializers.CharField(trim_whitespace=False)
    client_msg_id = serializers.UUIDField(required=False, allow_null=True)
    thread_root_id = BoundedIntegerField(required=False, allow_null=True)
    actions = serializers.JSONField(required=False, default=list)  # type: ignore[arg-type]


class ExtrasQueryIn(serializers.Serializer):
    ids = serializers.RegexField(r"^\d{1,18}(,\d{1,18}){0,199}$")


class SettingsIn(serializers.Serializer):
    egress_allowed_hosts = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    link_preview_hosts = serializers.CharField(required=False, allow_blank=True, max_length=5000)
