"""REST API v1 of the integration platform. Thin: parse, call one service or selector, shape
the output. Every view needs the `integrations` flag (404 `feature_disabled` without it);
previews need `link_previews`.
"""

from __future__ import annotations

from django.db import transaction
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.authed import AuthedRequest
from apps.chat import selectors as chat_selectors
from apps.core.api import validated
from apps.core.features import require_flag
from apps.integrations import events, selectors, services, tasks
from apps.integrations import serializers as s
from apps.integrations.models import CustomCommand
from apps.integrations.permissions import FLAG, access_integrations_admin
from apps.integrations.previews import FLAG as PREVIEWS_FLAG


class IntegrationsView(APIView):
    permission_classes = [IsAuthenticated, require_flag(FLAG)]


class BotListApi(IntegrationsView):
    @extend_schema(operation_id="bots_list", responses=s.BotOut(many=True))
    def get(self, request: AuthedRequest) -> Response:
        return Response(selectors.bots_for(user=request.user))

    @extend_schema(
        operation_id="bots_create",
        request=s.BotCreateIn,
        responses={201: s.BotCreatedOut},
        summary="Create a bot (who may: the organisation's bot_creators setting)",
    )
    def post(self, request: AuthedRequest) -> Response:
        data = validated(s.BotCreateIn, request.data)
        bot, raw = services.bot_create(actor=request.user, **data)
        return Response(
            {**selectors.bot_payload(bot), "token": raw}, status=status.HTTP_201_CREATED
        )


class BotDetailApi(IntegrationsView):
    @extend_schema(operation_id="bots_retrieve", responses=s.BotDetailOut)
    def get(self, request: AuthedRequest, bot_id: int) -> Response:
        return Response(selectors.bot_detail(user=request.user, bot_id=bot_id))

    @extend_schema(operation_id="bots_update", request=s.BotUpdateIn, responses=s.BotOut)
    def patch(self, request: AuthedRequest, bot_id: int) -> Response:
        data = validated(s.BotUpdateIn, request.data)
        bot = services.bot_update(actor=request.user, bot_id=bot_id, **data)
        return Response(selectors.bot_payload(bot))

    @extend_schema(
        operation_id="bots_deactivate",
        responses={204: None},
        summary="Deactivate the bot and revoke its tokens",
    )
    def delete(self, request: AuthedRequest, bot_id: int) -> Response:
        services.bot_deactivate(actor=request.user, bot_id=bot_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class BotTokensApi(IntegrationsView):
    @extend_schema(
        operation_id="bots_tokens_create",
        request=s.BotTokenCreateIn,
        responses={201: s.BotTokenCreatedOut},
    )
    def post(self, request: AuthedRequest, bot_id: int) -> Response:
        data = validated(s.BotTokenCreateIn, request.data)
        token, raw = services.bot_token_create(actor=request.user, bot_id=bot_id, **data)
        return Response(
            {"id": token.pk, "name": token.name, "token": raw}, status=status.HTTP_201_CREATED
        )


class BotTokenApi(IntegrationsView):
    @extend_schema(operation_id="bots_tokens_revoke", responses={204: None})
    def delete(self, request: AuthedRequest, bot_id: int, token_id: int) -> Response:
        services.bot_token_revoke(actor=request.user, bot_id=bot_id, token_id=token_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


def webhook_url(request: AuthedRequest, raw: str) -> str:
    return request.build_absolute_uri(reverse("integrations-hook", kwargs={"token": raw}))


class IncomingWebhooksApi(IntegrationsView):
    @extend_schema(
        operation_id="bots_incoming_webhooks_create",
        request=s.IncomingWebhookIn,
        responses={201: s.IncomingWebhookCreatedOut},
        summary="A secret URL that posts to a channel as the bot (shown once)",
    )
    def post(self, request: AuthedRequest, bot_id: int) -> Response:
        data = validated(s.IncomingWebhookIn, request.data)
        hook, raw = services.incoming_webhook_create(actor=request.user, bot_id=bot_id, **data)
        return Response(
            {
                "id": hook.pk,
                "name": hook.name,
                "channel_id": hook.channel_id,
                "url": webhook_url(request, raw),
            },
            status=status.HTTP_201_CREATED,
        )


class IncomingWebhookApi(IntegrationsView):
    @extend_schema(operation_id="incoming_webhooks_revoke", responses={204: None})
    def delete(self, request: AuthedRequest, webhook_id: int) -> Response:
        services.incoming_webhook_revoke(actor=request.user, webhook_id=webhook_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _outgoing(hook: object) -> dict[str, object]:
    return {
        "id": hook.pk,  # type: ignore[attr-defined]
        "name": hook.name,  # type: ignore[attr-defined]
        "channel_id": hook.channel_id,  # type: ignore[attr-defined]
        "url": hook.url,  # type: ignore[attr-defined]
        "trigger_words": hook.trigger_words,  # type: ignore[attr-defined]
        "signing_secret": hook.signing_secret,  # type: ignore[attr-defined]
    }


class OutgoingWebhooksApi(IntegrationsView):
    @extend_schema(
        operation_id="bots_outgoing_webhooks_create",
        request=s.OutgoingWebhookIn,
        responses={201: s.OutgoingWebhookOut},
    )
    def post(self, request: AuthedRequest, bot_id: int) -> Response:
        data = validated(s.OutgoingWebhookIn, request.data)
        hook = services.outgoing_webhook_create(actor=request.user, bot_id=bot_id, **data)
        return Response(_outgoing(hook), status=status.HTTP_201_CREATED)


class OutgoingWebhookApi(IntegrationsView):
    @extend_schema(operation_id="outgoing_webhooks_revoke", responses={204: None})
    def delete(self, request: AuthedRequest, webhook_id: int) -> Response:
        services.outgoing_webhook_revoke(actor=request.user, webhook_id=webhook_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _command(row: CustomCommand) -> dict[str, object]:
    return {
        "id": row.pk,
        "name": row.name,
        "description": row.description,
        "usage": row.usage,
        "url": row.url,
        "bot_id": row.bot_id,
        "signing_secret": row.signing_secret,
    }


class CustomCommandsApi(IntegrationsView):
    @extend_schema(operation_id="custom_commands_list", responses=s.CustomCommandOut(many=True))
    def get(self, request: AuthedRequest) -> Response:
        access_integrations_admin(user=request.user)
        return Response([_command(c) for c in CustomCommand.objects.order_by("name")])

    @extend_schema(
        operation_id="custom_commands_create",
        request=s.CustomCommandIn,
        responses={201: s.CustomCommandOut},
    )
    def post(self, request: AuthedRequest) -> Response:
        data = validated(s.CustomCommandIn, request.data)
        row = services.custom_command_create(actor=request.user, **data)
        return Response(_command(row), status=status.HTTP_201_CREATED)


class CustomCommandApi(IntegrationsView):
    @extend_schema(operation_id="custom_commands_delete", responses={204: None})
    def delete(self, request: AuthedRequest, command_id: int) -> Response:
        services.custom_command_delete(actor=request.user, command_id=command_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PollVoteApi(IntegrationsView):
    @extend_schema(
        operation_id="polls_vote",
        request=s.PollVoteIn,
        responses={200: s.PollOut},
        summary="Vote (again: the vote moves; option_id null: take it back)",
    )
    def post(self, request: AuthedRequest, poll_id: int) -> Response:
        data = validated(s.PollVoteIn, request.data)
        poll = services.poll_vote(user=request.user, poll_id=poll_id, **data)
        return Response(events.poll_payload(poll))


class BotMessagesApi(IntegrationsView):
    @extend_schema(
        operation_id="bot_messages_send",
        request=s.BotMessageIn,
        responses={201: s.BotMessageSentOut},
        summary="A bot posts a message with buttons (bot tokens only)",
    )
    def post(self, request: AuthedRequest) -> Response:
        data = validated(s.BotMessageIn, request.data)
        message = services.bot_message_send(user=request.user, **data)
        payload = chat_selectors.payloads(
            [chat_selectors.message_get(user=request.user, message_id=message.pk)]
        )[0]
        return Response({"message": payload}, status=status.HTTP_201_CREATED)


class ActionClickApi(IntegrationsView):
    @extend_schema(
        operation_id="message_actions_click",
        request=None,
        responses={202: s.ActionClickOut},
        summary="Click a bot message's button (sent to the bot, signed)",
    )
    def post(self, request: AuthedRequest, message_id: int, action_id: str) -> Response:
        services.action_click_check(user=request.user, message_id=message_id, action_id=action_id)
        user_id = request.user.pk
        transaction.on_commit(
            lambda: tasks.deliver_action_click.delay(user_id, message_id, action_id)
        )
        return Response({"queued": True}, status=status.HTTP_202_ACCEPTED)


class MessageExtrasApi(IntegrationsView):
    @extend_schema(
        operation_id="message_extras",
        parameters=[s.ExtrasQueryIn],
        responses={200: s.MessageExtrasOut},
        summary="Polls, buttons and link previews of messages (ids=1,2,3)",
    )
    def get(self, request: AuthedRequest, channel_id: int) -> Response:
        query = validated(s.ExtrasQueryIn, request.query_params)
        ids = [int(i) for i in query["ids"].split(",")]
        return Response(
            selectors.message_extras(user=request.user, channel_id=channel_id, message_ids=ids)
        )


class LinkPreviewApi(APIView):
    permission_classes = [IsAuthenticated, require_flag(PREVIEWS_FLAG)]

    @extend_schema(
        operation_id="link_previews_remove",
        responses={204: None},
        summary="Remove a preview from your own message",
    )
    def delete(self, request: AuthedRequest, preview_id: int) -> Response:
        services.link_preview_remove(user=request.user, preview_id=preview_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class IntegrationSettingsApi(IntegrationsView):
    @extend_schema(operation_id="integration_settings_retrieve", responses=s.SettingsIn)
    def get(self, request: AuthedRequest) -> Response:
        access_integrations_admin(user=request.user)
        row = services.integration_settings()
        return Response(
            {
                "egress_allowed_hosts": row.egress_allowed_hosts,
                "link_preview_hosts": row.link_preview_hosts,
            }
        )

    @extend_schema(
        operation_id="integration_settings_update", request=s.SettingsIn, responses=s.SettingsIn
    )
    def patch(self, request: AuthedRequest) -> Response:
        data = validated(s.SettingsIn, request.data)
        row = services.integration_settings_update(actor=request.user, **data)
        return Response(
            {
                "egress_allowed_hosts": row.egress_allowed_hosts,
                "link_preview_hosts": row.link_preview_hosts,
            }
        )
