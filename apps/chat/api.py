"""REST API v1 for the chat domain. Thin: parse, call one service or selector, shape output."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import HttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts import serializers as accounts_serializers
from apps.accounts.api import user_payload, user_profile_payload
from apps.accounts.authed import AuthedRequest
from apps.chat import commands, events, receipts, selectors, services
from apps.chat import serializers as s
from apps.chat.models import Membership
from apps.chat.services import pins
from apps.core.api import CreatedCursorPagination, validated
from apps.core.errors import InvalidInput, NotFound
from apps.core.features import require_flag

PINS_FLAG = pins.FLAG


class FastJSONRenderer(JSONRenderer):
    """The bytes DRF's JSONRenderer gives (compact, UTF-8), rendered by orjson: the hot read
    views (channel list, history) return hundreds of channels or messages per request."""

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if data is None:
            return b""
        return selectors.render_json(data)


def membership_payload(membership: Membership | None) -> dict[str, Any] | None:
    if membership is None:
        return None
    return {
        "role": membership.role,
        "is_muted": membership.is_muted,
        "notification_level": membership.notification_level,
        "last_read_seq": membership.last_read_seq,
    }


def summary_payload(summary: selectors.ChannelSummary) -> dict[str, Any]:
    return {
        **events.channel_payload(summary.channel, member_ids=summary.member_ids),
        "membership": membership_payload(summary.membership),
        "unread_count": summary.unread_count,
        "mention_count": summary.mention_count,
    }


class ChannelListApi(APIView):
    renderer_classes = [FastJSONRenderer]

    @extend_schema(
        operation_id="channels_list",
        responses=s.ChannelSummaryOut(many=True),
        summary="My channels, DMs and group DMs with unread and mention counts",
    )
    def get(self, request: AuthedRequest) -> Response:
        summaries = selectors.channel_list_for_user(user=request.user)
        return Response([summary_payload(summary) for summary in summaries])

    @extend_schema(
        operation_id="channels_create",
        request=s.ChannelCreateIn,
        responses={201: s.ChannelOut},
        summary="Create a public or private channel",
    )
    def post(self, request: AuthedRequest) -> Response:
        data = validated(s.ChannelCreateIn, request.data)
        channel = services.channel_create(creator=request.user, **data)
        return Response(events.channel_payload(channel), status=status.HTTP_201_CREATED)


class ChannelBrowseApi(APIView):
    pagination_class = CreatedCursorPagination

    @extend_schema(
        operation_id="channels_browse",
        responses=s.BrowseChannelOut(many=True),
        summary="Public channels one may join (cursor-paginated)",
    )
    def get(self, request: AuthedRequest) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.channel_browse(user=request.user), request)
        rows = [
            {
                "id": c.pk,
                "name": c.name,
                "topic": c.topic,
                "description": c.description,
                "is_archived": c.is_archived,
                "member_count": c.member_count,  # type: ignore[attr-defined]
                "is_member": c.is_member,  # type: ignore[attr-defined]
            }
            for c in page or []
        ]
        return paginator.get_paginated_response(rows)


class ChannelDetailApi(APIView):
    @extend_schema(operation_id="channels_retrieve", responses=s.ChannelSummaryOut)
    def get(self, request: AuthedRequest, channel_id: int) -> Response:
        channel, summary = selectors.channel_summary(user=request.user, channel_id=channel_id)
        if summary is not None:
            return Response(summary_payload(summary))
        body = {
            **events.channel_payload(channel, member_ids=selectors.direct_member_ids(channel)),
            "membership": None,
            "unread_count": 0,
            "mention_count": 0,
        }
        return Response(body)

    @extend_schema(
        operation_id="channels_update",
        request=s.ChannelUpdateIn,
        responses=s.ChannelOut,
        summary="Rename, set topic or description",
    )
    def patch(self, request: AuthedRequest, channel_id: int) -> Response:
        data = validated(s.ChannelUpdateIn, request.data)
        channel = services.channel_update(actor=request.user, channel_id=channel_id, **data)
        return Response(events.channel_payload(channel))


class ChannelArchiveApi(APIView):
    archived = True

    @extend_schema(request=None, responses=s.ChannelOut)
    def post(self, request: AuthedRequest, channel_id: int) -> Response:
        channel = services.channel_set_archived(
            actor=request.user, channel_id=channel_id, archived=self.archived
        )
        return Response(events.channel_payload(channel))


class ChannelUnarchiveApi(ChannelArchiveApi):
    archived = False


class ChannelJoinApi(APIView):
    @extend_schema(request=None, responses=s.MembershipOut)
    def post(self, request: AuthedRequest, channel_id: int) -> Response:
        membership = services.channel_join(user=request.user, channel_id=channel_id)
        return Response(membership_payload(membership))


class ChannelLeaveApi(APIView):
    @extend_schema(request=None, responses={204: None})
    def post(self, request: AuthedRequest, channel_id: int) -> Response:
        services.channel_leave(user=request.user, channel_id=channel_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChannelMembersApi(APIView):
    pagination_class = CreatedCursorPagination

    @extend_schema(operation_id="channel_members_list", responses=s.MemberOut(many=True))
    def get(self, request: AuthedRequest, channel_id: int) -> Response:
        paginator = self.pagination_class()
        members = selectors.channel_members(user=request.user, channel_id=channel_id)
        page = paginator.paginate_queryset(members, request) or []
        rows = [
            {
                "user_id": m.user_id,
                "username": m.user.username,
                "name": m.user.name,
                "role": m.role,
                "joined_at": m.joined_at,
            }
            for m in page
        ]
        return paginator.get_paginated_response(rows)

    @extend_schema(operation_id="channel_members_invite", request=s.InviteIn, responses={204: None})
    def post(self, request: AuthedRequest, channel_id: int) -> Response:
        data = validated(s.InviteIn, request.data)
        services.channel_invite(actor=request.user, channel_id=channel_id, **data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChannelMemberApi(APIView):
    @extend_schema(request=s.MemberRoleIn, responses=s.MembershipOut)
    def patch(self, request: AuthedRequest, channel_id: int, user_id: int) -> Response:
        data = validated(s.MemberRoleIn, request.data)
        membership = services.membership_set_role(
            actor=request.user, channel_id=channel_id, user_id=user_id, **data
        )
        return Response(membership_payload(membership))

    @extend_schema(responses={204: None})
    def delete(self, request: AuthedRequest, channel_id: int, user_id: int) -> Response:
        services.channel_remove_member(actor=request.user, channel_id=channel_id, user_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MembershipSettingsApi(APIView):
    @extend_schema(request=s.MembershipSettingsIn, responses=s.MembershipOut)
    def patch(self, request: AuthedRequest, channel_id: int) -> Response:
        data = validated(s.MembershipSettingsIn, request.data)
        membership = services.membership_update_settings(
            user=request.user, channel_id=channel_id, **data
        )
        return Response(membership_payload(membership))


class ChannelMessagesApi(APIView):
    renderer_classes = [FastJSONRenderer]

    @extend_schema(
        operation_id="messages_history",
        parameters=[s.HistoryQueryIn],
        responses=s.HistoryOut,
        summary="History: latest, before_seq, around a message, or after_seq (catch-up)",
        description=(
            "`after_seq=N` returns every message created or changed (edited, deleted, "
            "reacted to) after channel sequence N, ordered by `version`; page on with the last "
            "`version` while `has_more_after`. Apply them by id and you hold the stored history."
        ),
    )
    def get(self, request: AuthedRequest, channel_id: int) -> HttpResponse:
        query = validated(s.HistoryQueryIn, request.query_params)
        # Already JSON (pages are cached rendered): no renderer, same bytes as FastJSONRenderer.
        body = selectors.channel_history_json(
            user=request.user,
            channel_id=channel_id,
            after_seq=query.get("after_seq"),
            before_seq=query.get("before_seq"),
            around_message_id=query.get("around"),
            limit=query.get("limit"),
            roots_only=query["roots_only"],
        )
        return HttpResponse(body, content_type="application/json")

    @extend_schema(
        operation_id="messages_send",
        request=s.MessageSendIn,
        responses={201: s.SendAckOut, 200: s.SendAckOut},
        summary="Send a message (idempotent on client_msg_id)",
        description="201 when stored now, 200 when client_msg_id was already stored (a resend).",
    )
    def post(self, request: AuthedRequest, channel_id: int) -> Response:
        data = validated(s.MessageSendIn, request.data)
        found = None
        if data["body"].startswith("/") and not data.get("attachment_ids"):
            found = commands.find_command(data["body"], request.user)
        if found is not None:
            return self._run_command(request, channel_id, data, *found)
        result = services.message_send(sender=request.user, channel_id=channel_id, **data)
        message = selectors.message_get(user=request.user, message_id=result.message.pk)
        return Response(
            {
                "duplicate": not result.created,
                "message": selectors.payloads([message])[0],
                "command": None,
                "ephemeral": None,
            },
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )

    def _run_command(
        self,
        request: AuthedRequest,
        channel_id: int,
        data: dict[str, Any],
        command: commands.Command,
        args: str,
    ) -> Response:
        outcome = commands.command_run(
            user=request.user,
            channel_id=channel_id,
            command=command,
            args=args,
            client_msg_id=data.get("client_msg_id"),
            thread_root_id=data.get("thread_root_id"),
        )
        body: dict[str, Any] = {
            "command": outcome.name,
            "ephemeral": outcome.ephemeral,
            "duplicate": False,
            "message": None,
        }
        created = False
        if outcome.message is not None:
            posted = outcome.message.message
            message = selectors.message_get(user=request.user, message_id=posted.pk)
            body["message"] = selectors.payloads([message])[0]
            body["duplicate"] = not outcome.message.created
            created = outcome.message.created
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ChannelReadApi(APIView):
    @extend_schema(request=s.ReadIn, responses=s.ReadOut)
    def post(self, request: AuthedRequest, channel_id: int) -> Response:
        data = validated(s.ReadIn, request.data)
        seq = services.read_mark(user=request.user, channel_id=channel_id, seq=data["seq"])
        return Response({"last_read_seq": seq})


class ChannelReceiptsApi(APIView):
    @extend_schema(
        operation_id="channels_receipts",
        responses=s.ChannelReceiptsOut,
        summary="The other members' read positions, for read receipts (small conversations)",
    )
    def get(self, request: AuthedRequest, channel_id: int) -> Response:
        found = receipts.channel_read_positions(user=request.user, channel_id=channel_id)
        return Response(
            {
                "channel_id": found.channel_id,
                "available": found.available,
                "reason": found.reason,
                "positions": found.positions,
            }
        )


class MessageReceiptsApi(APIView):
    @extend_schema(
        operation_id="messages_receipts",
        responses=s.MessageReceiptsOut,
        summary="Who has read my message and who has not (its sender only)",
    )
    def get(self, request: AuthedRequest, message_id: int) -> Response:
        found = receipts.message_receipts(user=request.user, message_id=message_id)
        return Response(
            {
                "message_id": found.message_id,
                "channel_id": found.channel_id,
                "seq": found.seq,
                "read": found.read,
                "unread": found.unread,
            }
        )


class ChannelTypingApi(APIView):
    @extend_schema(request=s.TypingIn, responses={204: None})
    def post(self, request: AuthedRequest, channel_id: int) -> Response:
        data = validated(s.TypingIn, request.data)
        services.typing_notify(user=request.user, channel_id=channel_id, **data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DirectOpenApi(APIView):
    @extend_schema(
        request=s.DirectOpenIn,
        responses=s.ChannelOut,
        summary="Open (or find) the DM or group DM with these users",
    )
    def post(self, request: AuthedRequest) -> Response:
        data = validated(s.DirectOpenIn, request.data)
        channel = services.dm_open(user=request.user, user_ids=data["user_ids"])
        member_ids = selectors.direct_member_ids(channel)
        return Response(events.channel_payload(channel, member_ids=member_ids))


class MessageDetailApi(APIView):
    @extend_schema(operation_id="messages_retrieve", responses=s.MessageOut)
    def get(self, request: AuthedRequest, message_id: int) -> Response:
        message = selectors.message_get(user=request.user, message_id=message_id)
        return Response(selectors.payloads([message])[0])

    @extend_schema(operation_id="messages_edit", request=s.MessageEditIn, responses=s.MessageOut)
    def patch(self, request: AuthedRequest, message_id: int) -> Response:
        data = validated(s.MessageEditIn, request.data)
        services.message_edit(user=request.user, message_id=message_id, body=data["body"])
        message = selectors.message_get(user=request.user, message_id=message_id)
        return Response(selectors.payloads([message])[0])

    @extend_schema(operation_id="messages_delete", responses={204: None})
    def delete(self, request: AuthedRequest, message_id: int) -> Response:
        services.message_delete(user=request.user, message_id=message_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ThreadApi(APIView):
    @extend_schema(responses=s.ThreadOut, summary="A thread: root and replies")
    def get(self, request: AuthedRequest, message_id: int) -> Response:
        root, replies = selectors.thread_messages(user=request.user, root_id=message_id)
        return Response(
            {"root": selectors.payloads([root])[0], "replies": selectors.payloads(replies)}
        )


class ReactionsApi(APIView):
    @extend_schema(request=s.ReactionIn, responses=s.MessageOut)
    def post(self, request: AuthedRequest, message_id: int) -> Response:
        data = validated(s.ReactionIn, request.data)
        services.reaction_add(user=request.user, message_id=message_id, emoji=data["emoji"])
        message = selectors.message_get(user=request.user, message_id=message_id)
        return Response(selectors.payloads([message])[0])

    @extend_schema(
        parameters=[OpenApiParameter("emoji", str, required=True)],
        responses={200: s.MessageOut},
    )
    def delete(self, request: AuthedRequest, message_id: int) -> Response:
        emoji = request.query_params.get("emoji", "")
        services.reaction_remove(user=request.user, message_id=message_id, emoji=emoji)
        message = selectors.message_get(user=request.user, message_id=message_id)
        return Response(selectors.payloads([message])[0])


class PinsView(APIView):
    permission_classes = [IsAuthenticated, require_flag(PINS_FLAG)]


class ChannelPinsApi(PinsView):
    @extend_schema(
        operation_id="channel_pins",
        responses=s.MessageOut(many=True),
        summary="Messages pinned to the channel, newest pin first",
    )
    def get(self, request: AuthedRequest, channel_id: int) -> Response:
        return Response(selectors.channel_pins(user=request.user, channel_id=channel_id))


class MessagePinApi(PinsView):
    @extend_schema(
        operation_id="message_pin",
        request=None,
        responses=s.MessageOut,
        summary="Pin the message to its channel (409 pin_limit_reached when full)",
    )
    def post(self, request: AuthedRequest, message_id: int) -> Response:
        services.message_pin(user=request.user, message_id=message_id)
        message = selectors.message_get(user=request.user, message_id=message_id)
        return Response(selectors.payloads([message])[0])

    @extend_schema(operation_id="message_unpin", responses={200: s.MessageOut}, summary="Unpin it")
    def delete(self, request: AuthedRequest, message_id: int) -> Response:
        services.message_unpin(user=request.user, message_id=message_id)
        message = selectors.message_get(user=request.user, message_id=message_id)
        return Response(selectors.payloads([message])[0])


class PresenceApi(APIView):
    @extend_schema(
        parameters=[s.PresenceQueryIn],
        responses={200: {"type": "object", "additionalProperties": {"type": "string"}}},
        summary="Status (online/away/offline) of the given users",
    )
    def get(self, request: AuthedRequest) -> Response:
        try:
            user_ids = validated(s.PresenceQueryIn, request.query_params)["user_ids"]
        except ValidationError:
            # This endpoint's code since v1 (the list is one text, not a list field).
            raise InvalidInput(
                _("user_ids must be integers."),
                code="invalid_field",
                details={"field": "user_ids"},
            ) from None
        statuses = selectors.presence_of(user=request.user, user_ids=user_ids)
        return Response({str(uid): state for uid, state in statuses.items()})

    @extend_schema(request=s.PresenceIn, responses={200: {"type": "object"}})
    def post(self, request: AuthedRequest) -> Response:
        data = validated(s.PresenceIn, request.data)
        state = services.presence_update(
            user=request.user, connection_id=f"rest:{data['connection_id']}", state=data["status"]
        )
        return Response({"status": state})


# The user directory: who a user may see depends on the channels they share (a guest), so it is
# chat's; the user's shape is accounts' (`user_payload`, `UserOut`).
class UserListApi(APIView):
    pagination_class = CreatedCursorPagination

    @extend_schema(operation_id="users_list", responses=accounts_serializers.UserOut(many=True))
    def get(self, request: AuthedRequest) -> Response:
        paginator = self.pagination_class()
        users = selectors.user_directory(user=request.user)
        page = paginator.paginate_queryset(users, request) or []
        return paginator.get_paginated_response([user_payload(u) for u in page])


class UserDetailApi(APIView):
    @extend_schema(operation_id="users_retrieve", responses=accounts_serializers.UserProfileOut)
    def get(self, request: AuthedRequest, user_id: int) -> Response:
        users = selectors.user_directory(user=request.user).select_related("directory_profile")
        user = users.filter(pk=user_id).first()
        if user is None:
            raise NotFound(_("No such user."), code="user_not_found")
        return Response(user_profile_payload(user))


class CommandListApi(APIView):
    @extend_schema(
        operation_id="commands_list",
        responses=s.CommandOut(many=True),
        summary="The slash commands you may use (the composer's autocomplete)",
    )
    def get(self, request: AuthedRequest) -> Response:
        return Response(
            [
                {"name": c.name, "description": str(c.description), "usage": str(c.usage)}
                for c in commands.commands_for(user=request.user)
            ]
        )
