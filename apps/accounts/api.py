"""REST API v1 for accounts: me, the user directory, API tokens."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from django.contrib.auth import authenticate
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from apps.accounts import availability, invitations, selectors, services, two_factor
from apps.accounts import serializers as s
from apps.accounts.authed import AuthedRequest
from apps.accounts.events import notification_settings_payload
from apps.accounts.ldap_backend import request_found_directory_unavailable
from apps.accounts.models import APIToken, DirectoryProfile, User, UserSession
from apps.accounts.permissions import OrgAction, may_do, organization_settings
from apps.core.api import validated
from apps.core.errors import DomainError, Forbidden, InvalidInput
from apps.core.features import require_flag


def user_payload(user: User, *, now: datetime | None = None) -> dict[str, Any]:
    """A user as others see them. Lists load `custom_status` with `select_related`."""
    now = now or timezone.now()
    row = availability.user_status_row(user)
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
        "status": availability.status_current(row, now=now),
        "dnd": availability.dnd_current(row, zone=availability.user_zone(user), now=now),
    }


def user_profile_payload(user: User) -> dict[str, Any]:
    """A user's profile card: the public shape, what the directory says about them (empty for
    a local account) and their local time now. Load `directory_profile` with the user."""
    try:
        directory = user.directory_profile
    except DirectoryProfile.DoesNotExist:
        directory = None
    return {
        **user_payload(user),
        "title": directory.title if directory else "",
        "department": directory.department if directory else "",
        "phone": directory.phone if directory else "",
        "local_time": local_time_of(user),
    }


def local_time_of(user: User) -> str:
    """The time now in the user's zone, ISO 8601 to the minute with its offset ("UTC" when the
    stored zone is unknown to this server)."""
    try:
        zone = zoneinfo.ZoneInfo(user.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    return timezone.now().astimezone(zone).isoformat(timespec="minutes")


def me_payload(user: User) -> dict[str, Any]:
    """One's own user, with what the organisation settings let one do (the client hides what
    the server would refuse)."""
    settings = organization_settings()
    return {
        **user_payload(user),
        "theme": user.theme,
        "dnd_schedule": availability.dnd_schedule(availability.user_status_row(user)),
        "notification_settings": notification_settings_payload(
            selectors.notification_settings_of(user=user)
        ),
        "permissions": {
            action.name.lower(): may_do(user=user, action=action, settings=settings)
            for action in OrgAction
        },
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
    @extend_schema(operation_id="me_retrieve", responses=s.MeOut)
    def get(self, request: AuthedRequest) -> Response:
        return Response(me_payload(request.user))

    @extend_schema(operation_id="me_update", request=s.ProfileIn, responses=s.MeOut)
    def patch(self, request: AuthedRequest) -> Response:
        data = validated(s.ProfileIn, request.data)
        user = services.user_update_profile(user=request.user, **data)
        return Response(me_payload(user))


class MeAvatarApi(APIView):
    """One's own picture: PUT a multipart `avatar` image, DELETE to go back to initials."""

    parser_classes = [MultiPartParser]

    @extend_schema(operation_id="me_avatar_set", request=s.AvatarIn, responses=s.MeOut)
    def put(self, request: AuthedRequest) -> Response:
        upload = request.FILES.get("avatar")
        if upload is None:
            raise InvalidInput(_("Send the picture as the avatar field."), code="avatar_required")
        user = services.user_set_avatar(user=request.user, source=upload)
        return Response(me_payload(user))

    @extend_schema(operation_id="me_avatar_remove", responses={200: s.MeOut})
    def delete(self, request: AuthedRequest) -> Response:
        user = services.user_set_avatar(user=request.user, source=None)
        return Response(me_payload(user))


class LoginRateThrottle(AnonRateThrottle):
    rate = "20/min"


_TOKEN_ERROR = inline_serializer(
    name="AuthTokenError",
    fields={
        "code": serializers.CharField(),
        "message": serializers.CharField(),
        "details": serializers.DictField(),
    },
)


class TokenObtainApi(APIView):
    """Exchange a username and password for an API token (non-browser clients).

    Counts towards the same sign-in lock-out as the log-in form (django-axes): failures count,
    a success resets them, and a locked account gets 429 `account_locked`.
    """

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginRateThrottle]

    @extend_schema(
        operation_id="auth_token_obtain",
        request=s.TokenObtainIn,
        responses={
            201: s.TokenCreatedOut,
            400: OpenApiResponse(_TOKEN_ERROR, description="`invalid`: the body is not valid."),
            401: OpenApiResponse(
                _TOKEN_ERROR,
                description="`invalid_credentials`: wrong username or password; "
                "`otp_required`: the account has two-factor authentication and `otp` was "
                "missing or wrong.",
            ),
            429: OpenApiResponse(
                _TOKEN_ERROR,
                description="`account_locked`: too many failed sign-ins for this account "
                "(the same lock-out as the log-in form; wait for the lock-out period or ask "
                "an administrator to unlock it). Also `throttled` past 20 requests a minute.",
            ),
            503: OpenApiResponse(
                _TOKEN_ERROR,
                description="`directory_unavailable`: the company directory (LDAP) cannot be "
                "reached, so directory accounts cannot sign in; try again later. Not counted "
                "as a failed sign-in.",
            ),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = validated(s.TokenObtainIn, request.data)
        user = authenticate(request, username=data["username"], password=data["password"])
        if user is None or not user.is_active:
            # django-axes marks the request when the account is (now) locked out.
            if getattr(request, "axes_locked_out", False):
                raise DomainError(
                    _("Too many failed sign-in attempts. This account is locked for now."),
                    code="account_locked",
                ).with_status(429)
            if request_found_directory_unavailable(request):
                raise DomainError(
                    _("The company directory cannot be reached right now. Try again later."),
                    code="directory_unavailable",
                ).with_status(503)
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
        # Signed in: the failure count is reset, as a log-in through the form resets it.
        AxesProxyHandler.user_logged_in(type(self), request, user)
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


def _require_org_admin(user: User) -> None:
    if not user.is_org_admin:
        raise Forbidden(_("Only administrators invite people."), code="not_org_admin")


class InvitationListApi(APIView):
    @extend_schema(
        operation_id="invitations_create",
        request=s.InvitationIn,
        responses={201: s.InvitationOut},
        summary="Invite an address by e-mail, optionally into chosen channels",
    )
    def post(self, request: AuthedRequest) -> Response:
        data = validated(s.InvitationIn, request.data)
        invitation = invitations.invitation_create(
            actor=request.user,
            email=data["email"],
            role=data["role"],
            channel_ids=data["channel_ids"],
            base_url=f"{request.scheme}://{request.get_host()}",
        )
        payload = {
            "id": invitation.pk,
            "email": invitation.email,
            "role": invitation.role,
            "channel_ids": invitation.channel_ids,
            "expires_at": invitation.expires_at,
        }
        return Response(payload, status=status.HTTP_201_CREATED)


class InvitationChannelsApi(APIView):
    @extend_schema(
        operation_id="invitations_channels",
        responses=s.InvitationChannelOut(many=True),
        summary="The channels the caller may add an invited person to",
    )
    def get(self, request: AuthedRequest) -> Response:
        _require_org_admin(request.user)
        choices = invitations.invitation_channel_choices(actor=request.user)
        return Response([{"id": pk, "label": label} for pk, label in choices])


def my_status_payload(user: User) -> dict[str, Any]:
    """One's own status and do-not-disturb, with the schedule only one sees."""
    now = timezone.now()
    row = availability.user_status_row(user)
    return {
        "status": availability.status_current(row, now=now),
        "dnd": availability.dnd_current(row, zone=availability.user_zone(user), now=now),
        "dnd_schedule": availability.dnd_schedule(row),
    }


class MyStatusApi(APIView):
    """One's custom status: an emoji and a short text, cleared after a while or by hand."""

    permission_classes = [IsAuthenticated, require_flag(availability.FLAG)]

    @extend_schema(
        operation_id="me_status_set",
        request=s.StatusIn,
        responses=s.MyStatusOut,
        summary="Set one's custom status",
    )
    def put(self, request: AuthedRequest) -> Response:
        data = validated(s.StatusIn, request.data)
        services.user_status_set(user=request.user, **data)
        return Response(my_status_payload(request.user))

    @extend_schema(
        operation_id="me_status_clear", responses={200: s.MyStatusOut}, summary="Clear one's status"
    )
    def delete(self, request: AuthedRequest) -> Response:
        services.user_status_clear(user=request.user)
        return Response(my_status_payload(request.user))


class MyDndApi(APIView):
    """Do not disturb: notifications paused until a time, and a weekly schedule."""

    permission_classes = [IsAuthenticated, require_flag(availability.FLAG)]

    @extend_schema(operation_id="me_dnd_retrieve", responses=s.MyStatusOut)
    def get(self, request: AuthedRequest) -> Response:
        return Response(my_status_payload(request.user))

    @extend_schema(
        operation_id="me_dnd_set",
        request=s.DndIn,
        responses=s.MyStatusOut,
        summary="Pause or resume notifications; set the weekly schedule",
    )
    def put(self, request: AuthedRequest) -> Response:
        data = validated(s.DndIn, request.data)
        until = data.get("until")
        if data.get("minutes") is not None:
            until = timezone.now() + timedelta(minutes=data["minutes"])
        schedule = data.get("schedule")
        services.user_dnd_set(
            user=request.user,
            until=until,
            change_pause="until" in data or "minutes" in data,
            **(
                {
                    "schedule_enabled": schedule["enabled"],
                    "schedule_days": schedule["days"],
                    "schedule_start": schedule["start"],
                    "schedule_end": schedule["end"],
                }
                if schedule is not None
                else {}
            ),
        )
        return Response(my_status_payload(request.user))


class MyNotificationSettingsApi(APIView):
    permission_classes = [IsAuthenticated, require_flag(availability.FLAG)]

    @extend_schema(
        operation_id="me_notification_settings_retrieve", responses=s.NotificationSettingsOut
    )
    def get(self, request: AuthedRequest) -> Response:
        return Response(
            notification_settings_payload(selectors.notification_settings_of(user=request.user))
        )

    @extend_schema(
        operation_id="me_notification_settings_update",
        request=s.NotificationSettingsIn,
        responses=s.NotificationSettingsOut,
    )
    def patch(self, request: AuthedRequest) -> Response:
        data = validated(s.NotificationSettingsIn, request.data)
        settings = services.notification_settings_update(user=request.user, **data)
        return Response(notification_settings_payload(settings))
