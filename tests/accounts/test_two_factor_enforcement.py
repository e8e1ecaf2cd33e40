"""The organisation's 2FA requirement holds over REST (session log-ins) and WebSocket."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connections
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts.models import OrganizationSettings, Role, User
from tests.factories import UserFactory
from tests.ws import ALLOWED_ORIGIN, cookie_header, refused

pytestmark = pytest.mark.django_db(transaction=True)

ME = "/api/v1/users/me/"


def require_2fa(requirement: str = "everyone") -> None:
    OrganizationSettings.objects.update_or_create(
        pk=1, defaults={"two_factor_required_for": requirement}
    )


def signed_in(user: User, *, verified: bool) -> Client:
    client = Client()
    client.force_login(user)
    if verified:
        device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client


def test_rest_refuses_a_session_without_the_required_second_factor() -> None:
    require_2fa()
    response = signed_in(UserFactory(), verified=False).get(ME)

    assert response.status_code == 403
    assert response.json()["code"] == "two_factor_required"


def test_rest_accepts_a_session_verified_with_otp() -> None:
    require_2fa()
    assert signed_in(UserFactory(), verified=True).get(ME).status_code == 200


def test_rest_requirement_for_admins_leaves_members_alone() -> None:
    require_2fa("admins")
    assert signed_in(UserFactory(role=Role.MEMBER), verified=False).get(ME).status_code == 200
    admin_response = signed_in(UserFactory(role=Role.ADMIN), verified=False).get(ME)
    assert admin_response.status_code == 403
    assert admin_response.json()["code"] == "two_factor_required"


def test_rest_token_clients_are_not_asked_for_a_session_second_factor() -> None:
    from apps.accounts.services import api_token_create

    require_2fa()
    _token, raw = api_token_create(user=UserFactory(), name="cli")
    response = Client().get(ME, HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200


def _session_key(client: Client) -> str:
    return client.cookies[settings.SESSION_COOKIE_NAME].value


async def test_websocket_refuses_a_session_without_the_required_second_factor(
    isolated_realtime: str,
) -> None:
    await database_sync_to_async(require_2fa)()
    user = await database_sync_to_async(UserFactory)()
    client = await database_sync_to_async(signed_in)(user, verified=False)
    headers = [cookie_header(_session_key(client)), (b"origin", ALLOWED_ORIGIN)]

    code = await refused(headers=headers)

    await database_sync_to_async(connections.close_all)()
    assert code == 4403


async def test_websocket_accepts_a_session_verified_with_otp(ws_connect: Any) -> None:
    await database_sync_to_async(require_2fa)()
    user = await database_sync_to_async(UserFactory)()
    client = await database_sync_to_async(signed_in)(user, verified=True)

    socket = await ws_connect(user, auth="session", session_key=_session_key(client))

    await socket.assert_open()
