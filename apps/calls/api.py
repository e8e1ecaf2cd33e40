"""REST API v1 for calls. Thin: parse, call one service or selector, shape the output.

Every view needs the `calls` feature flag (404 `feature_disabled` without it).
"""

from __future__ import annotations

from collections.abc import Callable

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.authed import AuthedRequest
from apps.calls import events, selectors, services
from apps.calls import serializers as s
from apps.calls.models import CallParticipant, CallSession
from apps.core.api import validated
from apps.core.features import require_flag

FLAG = "calls"


class CallsView(APIView):
    permission_classes = [IsAuthenticated, require_flag(FLAG)]


def _payload(call: CallSession) -> events.CallPayload:
    return events.call_payload(call, list(CallParticipant.objects.filter(call_id=call.pk)))


class CallStartApi(CallsView):
    @extend_schema(
        operation_id="calls_start",
        request=s.CallStartIn,
        responses={201: s.CallOut},
        summary="Ring the other person of a direct message",
    )
    def post(self, request: AuthedRequest, channel_id: int) -> Response:
        data = validated(s.CallStartIn, request.data)
        call = services.call_start(user=request.user, channel_id=channel_id, **data)
        return Response(_payload(call), status=status.HTTP_201_CREATED)


class MeetingStartApi(CallsView):
    @extend_schema(
        operation_id="calls_meeting_start",
        request=s.MeetingStartIn,
        responses={201: s.MeetingJoinOut},
        summary="Start a meeting in a channel or group DM (or join the one going on)",
    )
    def post(self, request: AuthedRequest, channel_id: int) -> Response:
        data = validated(s.MeetingStartIn, request.data)
        joined = services.meeting_start(user=request.user, channel_id=channel_id, **data)
        return Response(joined, status=status.HTTP_201_CREATED)


class MeetingJoinApi(CallsView):
    @extend_schema(
        operation_id="calls_meeting_join",
        request=None,
        responses=s.MeetingJoinOut,
        summary="Join a meeting: this participant's Janus token, room and pin",
    )
    def post(self, request: AuthedRequest, call_id: int) -> Response:
        response = Response(services.meeting_join(user=request.user, call_id=call_id))
        response["Cache-Control"] = "no-store"
        return response


class CallDetailApi(CallsView):
    @extend_schema(operation_id="calls_retrieve", responses=s.CallOut)
    def get(self, request: AuthedRequest, call_id: int) -> Response:
        return Response(selectors.call_get(user=request.user, call_id=call_id))


class _CallActionApi(CallsView):
    action: Callable[..., CallSession]

    @extend_schema(request=None, responses=s.CallOut)
    def post(self, request: AuthedRequest, call_id: int) -> Response:
        call = type(self).action(user=request.user, call_id=call_id)
        return Response(_payload(call))


class CallAcceptApi(_CallActionApi):
    action = staticmethod(services.call_accept)


class CallDeclineApi(_CallActionApi):
    action = staticmethod(services.call_decline)


class CallCancelApi(_CallActionApi):
    action = staticmethod(services.call_cancel)


class CallHangupApi(_CallActionApi):
    action = staticmethod(services.call_hangup)


class CallHeartbeatApi(_CallActionApi):
    action = staticmethod(services.call_heartbeat)


class CallSignalApi(CallsView):
    @extend_schema(
        request=s.CallSignalIn,
        responses={204: None},
        summary="Relay WebRTC signalling to another participant (the WebSocket is faster)",
    )
    def post(self, request: AuthedRequest, call_id: int) -> Response:
        data = validated(s.CallSignalIn, request.data)
        services.call_signal(user=request.user, call_id=call_id, **data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeetingsLiveApi(CallsView):
    @extend_schema(
        operation_id="calls_meetings_live",
        responses=s.CallOut(many=True),
        summary="The meetings going on in my channels",
    )
    def get(self, request: AuthedRequest) -> Response:
        return Response(selectors.meetings_live(user=request.user))


class IceServersApi(CallsView):
    @extend_schema(
        operation_id="calls_ice_servers",
        responses=s.IceServersOut,
        summary="STUN and TURN servers, with short-lived TURN credentials",
    )
    def get(self, request: AuthedRequest) -> Response:
        response = Response(selectors.ice_servers_for(user=request.user))
        response["Cache-Control"] = "no-store"
        return response
