"""REST: the feature flags of the requesting user (the web client also gets them in its page)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.authed import AuthedRequest
from apps.ops.flags import selectors


class FeatureFlagsApi(APIView):
    @extend_schema(
        operation_id="features_list",
        responses=inline_serializer(
            "FeatureFlagsOut",
            {"flags": serializers.DictField(child=serializers.BooleanField())},
        ),
        summary="The feature flags of the requesting user",
        description=(
            "Every feature flag by name, and whether it is on for you. A flag that is not "
            "listed does not exist and is off. A feature behind a flag that is off for you "
            "answers 404 `feature_disabled`."
        ),
    )
    def get(self, request: AuthedRequest) -> Response:
        return Response({"flags": selectors.feature_flags_for(user=request.user)})
