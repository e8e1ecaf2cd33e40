from django.urls import path

from apps.integrations import api

app_name = "integrations_api"

urlpatterns = [
    path("bots/", api.BotListApi.as_view(), name="bots"),
    path("bots/<id:bot_id>/", api.BotDetailApi.as_view(), name="bot"),
    path("bots/<id:bot_id>/tokens/", api.BotTokensApi.as_view(), name="bot-tokens"),
    path("bots/<id:bot_id>/tokens/<id:token_id>/", api.BotTokenApi.as_view(), name="bot-token"),
    path(
        "bots/<id:bot_id>/incoming-webhooks/",
        api.IncomingWebhooksApi.as_view(),
        name="bot-incoming-webhooks",
    ),
    path(
        "bots/<id:bot_id>/outgoing-webhooks/",
        api.OutgoingWebhooksApi.as_view(),
        name="bot-outgoing-webhooks",
    ),
    path(
        "incoming-webhooks/<id:webhook_id>/",
        api.IncomingWebhookApi.as_view(),
        name="incoming-webhook",
    ),
    path(
        "outgoing-webhooks/<id:webhook_id>/",
        api.OutgoingWebhookApi.as_view(),
        name="outgoing-webhook",
    ),
    path("integrations/commands/", api.CustomCommandsApi.as_view(), name="custom-commands"),
    path(
        "integrations/commands/<id:command_id>/",
        api.CustomCommandApi.as_view(),
        name="custom-command",
    ),
    path("integrations/settings/", api.IntegrationSettingsApi.as_view(), name="settings"),
    path("polls/<id:poll_id>/vote/", api.PollVoteApi.as_view(), name="poll-vote"),
    path("bot/messages/", api.BotMessagesApi.as_view(), name="bot-messages"),
    path(
        "messages/<id:message_id>/actions/<slug:action_id>/",
        api.ActionClickApi.as_view(),
        name="action-click",
    ),
    path("channels/<id:channel_id>/extras/", api.MessageExtrasApi.as_view(), name="message-extras"),
    path("link-previews/<id:preview_id>/", api.LinkPreviewApi.as_view(), name="link-preview"),
]
