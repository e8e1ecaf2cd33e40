"""REST API v1 for accounts: me, the user directory, API tokens."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from apps.accounts import serializers as s
from apps.accounts import services, two_factor
from apps.accounts.models import APIToken, User, UserSession
from apps.chat.selectors import user_directory
from apps.core.api import AuthedRequest, CreatedCursorPagination, validated
from apps.core.errors import DomainError, InvalidInput, NotFound


def user_payload(user: User) -> dict[str, Any]:
    return {
        "id": user.pk,
        "username": user.username,
        "name": user.name,
        "display_name": user.display_name,
        "email": user.email,
        "role": user.role,
        "is_bot": user.is_bot,
        "time_zone": user.time_zone,
        "language": user.language,
        "avatar_url": user.avatar.url if user.avatar else None,
    }


def token_payload(token: APIToken) -> dict[str, Any]:
    return {
        "id": token.pk,
        "name": token.name,
        "prefix": token.prefix,
        "created_at": token.created_at,
        "last_used_at": token.last_used_at,
        "expires_at": token.expires_at,
    }


class MeApi(APIView):
    @extend_schema(operation_id="me_retrieve", responses=s.UserOut)
    def get(self, request: AuthedRequest) -> Response:
        return Response(user_payload(request.user))

    @extend_schema(operation_id="me_update", request=s.ProfileIn, responses=s.UserOut)
    def patch(self, request: AuthedRequest) -> Response:
        data = validated(s.ProfileIn, request.data)
        user = services.user_update_profile(user=request.user, **data)
        return Response(user_payload(user))


class MeAvatarApi(APIView):
    """One's own picture: PUT a multipart `avatar` image, DELETE to go back to initials."""

    parser_classes = [MultiPartParser]

    @extend_schema(operation_id="me_avatar_set", request=s.AvatarIn, responses=s.UserOut)
    def put(self, request: AuthedRequest) -> Response:
        upload = request.FILES.get("avatar")
        if upload is None:
            raise InvalidInput(_("Send the picture as the avatar field."), code="avatar_required")
        user = services.user_set_avatar(user=request.user, source=upload)
        return Response(user_payload(user))

    @extend_schema(operation_id="me_avatar_remove", responses={200: s.UserOut})
    def delete(self, request: AuthedRequest) -> Response:
        user = services.user_set_avatar(user=request.user, source=None)
        return Response(user_payload(user))


class UserListApi(APIView):
    pagination_class = CreatedCursorPagination

    @extend_schema(operation_id="users_list", responses=s.UserOut(many=True))
    def get(self, request: AuthedRequest) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(user_directory(user=request.user), request) or []
        return paginator.get_paginated_response([user_payload(u) for u in page])


class UserDetailApi(APIView):
    @extend_schema(operation_id="users_retrieve", responses=s.UserOut)
    def get(self, request: AuthedRequest, user_id: int) -> Response:
        user = user_directory(user=request.user).filter(pk=user_id).first()
        if user is None:
            raise NotFound(_("No such user."), code="user_not_found")
        return Response(user_payload(user))


class LoginRateThrottle(AnonRateThrottle):
    rate = "20/min"


class TokenObtainApi(APIView):
    """Exchange a username and password for an API token (non-browser clients)."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginRateThrottle]

    @extend_schema(
        operation_id="auth_token_obtain",
        request=s.TokenObtainIn,
        responses={201: s.TokenCreatedOut},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = validated(s.TokenObtainIn, request.data)
        user = authenticate(request, username=data["username"], password=data["password"])
        if user is None or not user.is_active:
            raise DomainError(
                _("Wrong username or password."), code="invalid_credentials"
            ).with_status(401)
        if two_factor.two_factor_enabled(user) and (
            two_factor.two_factor_verify(user=user, token=data["otp"]) is None
        ):
            raise DomainError(
                _("Give the code from your authenticator app (or a recovery code) as otp."),
                code="otp_required",
            ).with_status(401)
        token, raw = services.api_token_create(user=user, name=data["name"])
        return Response({**token_payload(token), "token": raw}, status=status.HTTP_201_CREATED)


class TokenListApi(APIView):
    @extend_schema(operation_id="tokens_list", responses=s.TokenOut(many=True))
    def get(self, request: AuthedRequest) -> Response:
        tokens = APIToken.objects.filter(user=request.user, revoked_at__isnull=True)
        return Response([token_payload(t) for t in tokens.order_by("-created_at")])

    @extend_schema(
        operation_id="tokens_create", request=s.TokenCreateIn, responses={201: s.TokenCreatedOut}
    )
    def post(self, request: AuthedRequest) -> Response:
        data = validated(s.TokenCreateIn, request.data)
        token, raw = services.api_token_create(user=request.user, **data)
        return Response({**token_payload(token), "token": raw}, status=status.HTTP_201_CREATED)


class TokenDetailApi(APIView):
    @extend_schema(operation_id="tokens_revoke", responses={204: None})
    def delete(self, request: AuthedRequest, token_id: int) -> Response:
        services.api_token_revoke(user=request.user, token_id=token_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


def sessions_payload(request: AuthedRequest) -> list[dict[str, Any]]:
    current = request.session.session_key
    return [
        {
            "id": record.pk,
            "ip_address": record.ip_address,
            "user_agent": record.user_agent,
            "created_at": record.created_at,
            "current": record.session_key == current,
        }
        for record in UserSession.objects.filter(user=request.user).order_by("-created_at")
    ]


class SessionListApi(APIView):
    @extend_schema(operation_id="sessions_list", responses=s.SessionOut(many=True))
    def get(self, request: AuthedRequest) -> Response:
        return Response(sessions_payload(request))


class SessionEndOthersApi(APIView):
    @extend_schema(operation_id="sessions_end_others", request=None, responses=s.SessionsEndedOut)
    def post(self, request: AuthedRequest) -> Response:
        ended = services.user_sessions_end(
            user=request.user, keep_session_key=request.session.session_key
        )
        return Response({"ended": ended})
