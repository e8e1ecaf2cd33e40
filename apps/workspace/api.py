"""REST API v1 of the workplace. Thin: parse, call one service or selector, shape the output."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.authed import AuthedRequest
from apps.chat.services.pins import FLAG as PINS_FLAG
from apps.core.api import validated
from apps.core.features import require_flag
from apps.workspace import inbox, reminders, selectors, services
from apps.workspace import serializers as s
from apps.workspace.permissions import REMINDERS_FLAG


class DefaultChannelsApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="workspace_default_channels",
        responses=s.DefaultChannelOut(many=True),
        summary="The channels every new person joins (administrators)",
    )
    def get(self, request: AuthedRequest) -> Response:
        return Response(selectors.default_channels_list(user=request.user))

    @extend_schema(
        operation_id="workspace_default_channels_set",
        request=s.DefaultChannelsIn,
        responses=s.DefaultChannelOut(many=True),
        summary="Replace the default channels (administrators)",
    )
    def put(self, request: AuthedRequest) -> Response:
        data = validated(s.DefaultChannelsIn, request.data)
        channels = services.default_channels_set(actor=request.user, **data)
        return Response([selectors.default_channel_payload(c) for c in channels])


class InboxView(APIView):
    permission_classes = [IsAuthenticated, require_flag(inbox.FLAG)]


class InboxApi(InboxView):
    @extend_schema(
        operation_id="inbox_list",
        responses=s.InboxOut,
        summary="My unread mentions, replies to my threads and direct messages",
    )
    def get(self, request: AuthedRequest) -> Response:
        return Response(inbox.inbox_list(user=request.user))


class InboxMarkAllReadApi(InboxView):
    @extend_schema(
        operation_id="inbox_mark_all_read",
        request=None,
        responses=s.MarkedReadOut(many=True),
        summary="Mark every channel read (my other tabs are told)",
    )
    def post(self, request: AuthedRequest) -> Response:
        return Response(inbox.inbox_mark_all_read(user=request.user))


class RemindersView(APIView):
    permission_classes = [IsAuthenticated, require_flag(REMINDERS_FLAG)]


class RemindersApi(RemindersView):
    @extend_schema(
        operation_id="reminders_list",
        responses=s.ReminderOut(many=True),
        summary="My pending reminders, soonest first",
    )
    def get(self, request: AuthedRequest) -> Response:
        return Response(reminders.reminders_pending(user=request.user))

    @extend_schema(
        operation_id="reminders_create",
        request=s.ReminderIn,
        responses={201: s.ReminderOut},
        summary="Remind me (about a message, or of a note) at a preset or a chosen time",
    )
    def post(self, request: AuthedRequest) -> Response:
        data = validated(s.ReminderIn, request.data)
        payload = reminders.reminder_create(user=request.user, **data)
        return Response(payload, status=status.HTTP_201_CREATED)


class ReminderApi(RemindersView):
    @extend_schema(
        operation_id="reminders_cancel",
        request=None,
        responses={204: None},
        summary="Cancel one of my pending reminders (my other tabs are told)",
    )
    def delete(self, request: AuthedRequest, reminder_id: int) -> Response:
        reminders.reminder_cancel(user=request.user, reminder_id=reminder_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SavedView(APIView):
    # Saved messages ship with pins, behind the same flag.
    permission_classes = [IsAuthenticated, require_flag(PINS_FLAG)]


class SavedListApi(SavedView):
    @extend_schema(
        operation_id="saved_list",
        responses=s.SavedItemOut(many=True),
        summary="My saved messages, newest first (only those I may still read)",
    )
    def get(self, request: AuthedRequest) -> Response:
        return Response(selectors.saved_messages_list(user=request.user))

    @extend_schema(
        operation_id="saved_add",
        request=s.SavedIn,
        responses=s.SavedStateOut,
        summary="Save a message for later (my other tabs are told)",
    )
    def post(self, request: AuthedRequest) -> Response:
        data = validated(s.SavedIn, request.data)
        saved = services.saved_message_add(user=request.user, message_id=data["message_id"])
        return Response({"message_id": saved.message_id, "saved_at": saved.saved_at.isoformat()})


class SavedItemApi(SavedView):
    @extend_schema(
        operation_id="saved_remove",
        responses={200: s.SavedStateOut},
        summary="Take a message out of my saved messages",
    )
    def delete(self, request: AuthedRequest, message_id: int) -> Response:
        services.saved_message_remove(user=request.user, message_id=message_id)
        return Response({"message_id": message_id, "saved_at": None})
