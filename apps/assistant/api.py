"""REST API v1 of the assistant. Thin: parse, call one service or selector, shape the output.

Every view needs the `assistant` feature flag (404 `feature_disabled` without it).
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.authed import AuthedRequest
from apps.assistant import serializers as s
from apps.assistant import services
from apps.core.api import validated
from apps.core.features import require_flag

FLAG = services.FLAG


class AssistantView(APIView):
    permission_classes = [IsAuthenticated, require_flag(FLAG)]


class AssistantStatusApi(AssistantView):
    @extend_schema(
        operation_id="assistant_status",
        responses=s.AssistantStatusOut,
        summary="How the assistant answers, and what the caller has used of today's allowance",
    )
    def get(self, request: AuthedRequest) -> Response:
        return Response(services.assistant_status(user=request.user))


class AssistantAskApi(AssistantView):
    @extend_schema(
        operation_id="assistant_ask",
        request=s.AskIn,
        responses=s.AnswerOut,
        summary="Ask the assistant; it answers from what the caller may read",
    )
    def post(self, request: AuthedRequest) -> Response:
        data = validated(s.AskIn, request.data)
        answer = services.assistant_ask(
            user=request.user, question=data["question"], channel_id=data["channel_id"]
        )
        return Response(services.answer_payload(answer))
