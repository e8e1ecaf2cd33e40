"""The `/ws/` handshake: Origin check, session-cookie and token authentication
(docs/architecture/realtime.md).

Every test goes through config.asgi.application, so the middleware stack is the real one.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from apps.accounts.models import APIToken, User
from apps.accounts.services import user_deactivate
from apps.chat.consumers import CLOSE_UNAUTHENTICATED
from tests.ws import (
    ALLOWED_ORIGIN,
    FOREIGN_ORIGIN,
    WsClient,
    api_token,
    cookie_header,
    handshake,
    refused,
    session_cookie,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("ws_connect"),
]

CLOSE_FOREIGN_ORIGIN = 4403


async def _accepted(
    headers: list[tuple[bytes, bytes]], query: dict[str, str] | None = None
) -> dict:
    communicator, connected, code = await handshake(headers=headers, query=query)
    try:
        assert connected, f"refused with {code}"
        client = WsClient(communicator, None)
        hello = await client.event("hello")
        await client.assert_open()
        return hello
    finally:
        await communicator.disconnect(timeout=2)


@pytest.mark.parametrize("origin", [b"http://127.0.0.1", b"http://localhost:8000"])
async def test_session_cookie_with_allowed_origin_is_accepted(user: User, origin: bytes) -> None:
    key = await database_sync_to_async(session_cookie)(user)

    hello = await _accepted([cookie_header(key), (b"origin", origin)])

    assert hello["user_id"] == user.pk


@pytest.mark.parametrize(
    "origin", [FOREIGN_ORIGIN, b"http://127.0.0.1.evil.example", b"null", b"file://"]
)
async def test_session_cookie_with_foreign_origin_is_refused(user: User, origin: bytes) -> None:
    key = await database_sync_to_async(session_cookie)(user)

    code = await refused(headers=[cookie_header(key), (b"origin", origin)])

    assert code == CLOSE_FOREIGN_ORIGIN


async def test_session_cookie_without_origin_is_refused_as_unauthenticated(user: User) -> None:
    key = await database_sync_to_async(session_cookie)(user)

    code = await refused(headers=[cookie_header(key)])

    assert code == CLOSE_UNAUTHENTICATED


async def test_token_in_authorization_header_without_origin_is_accepted(user: User) -> None:
    raw = await database_sync_to_async(api_token)(user)

    hello = await _accepted([(b"authorization", f"Bearer {raw}".encode())])

    assert hello["user_id"] == user.pk


async def test_token_in_query_string_without_origin_is_accepted(user: User) -> None:
    raw = await database_sync_to_async(api_token)(user)

    hello = await _accepted([], query={"token": raw})

    assert hello["user_id"] == user.pk


async def test_token_with_foreign_origin_is_refused(user: User) -> None:
    raw = await database_sync_to_async(api_token)(user)

    code = await refused(
        headers=[(b"authorization", f"Bearer {raw}".encode()), (b"origin", FOREIGN_ORIGIN)]
    )

    assert code == CLOSE_FOREIGN_ORIGIN


def _revoked_token(user: User) -> str:
    raw = api_token(user)
    APIToken.objects.filter(user=user).update(revoked_at=timezone.now())
    return raw


def _expired_token(user: User) -> str:
    return api_token(user, expires_at=timezone.now() - timedelta(seconds=1))


def _unknown_token(user: User) -> str:
    return "enc_" + "x" * 43


def _malformed_token(user: User) -> str:
    return "not-a-token"


@pytest.mark.parametrize(
    "make_token", [_revoked_token, _expired_token, _unknown_token, _malformed_token]
)
async def test_bad_token_is_refused(user: User, make_token) -> None:
    raw = await database_sync_to_async(make_token)(user)

    in_header = await refused(headers=[(b"authorization", f"Bearer {raw}".encode())])
    in_query = await refused(query={"token": raw})

    assert (in_header, in_query) == (CLOSE_UNAUTHENTICATED, CLOSE_UNAUTHENTICATED)


async def test_bad_token_does_not_fall_back_to_a_valid_session_cookie(user: User) -> None:
    key = await database_sync_to_async(session_cookie)(user)

    code = await refused(
        headers=[
            cookie_header(key),
            (b"origin", ALLOWED_ORIGIN),
            (b"authorization", b"Bearer enc_revoked-or-unknown"),
        ]
    )

    assert code == CLOSE_UNAUTHENTICATED


@pytest.mark.parametrize("origin", [None, ALLOWED_ORIGIN])
async def test_anonymous_is_refused(db: None, origin: bytes | None) -> None:
    headers = [(b"origin", origin)] if origin else []

    code = await refused(headers=headers)

    assert code == CLOSE_UNAUTHENTICATED


async def test_unknown_session_cookie_is_refused(db: None) -> None:
    code = await refused(headers=[cookie_header("nosuchsession"), (b"origin", ALLOWED_ORIGIN)])

    assert code == CLOSE_UNAUTHENTICATED


async def test_deactivated_user_is_refused_with_session_cookie(user: User) -> None:
    key = await database_sync_to_async(session_cookie)(user)
    # Deactivation ends the sessions; a cookie of a session it missed must not work either.
    await database_sync_to_async(User.objects.filter(pk=user.pk).update)(is_active=False)

    code = await refused(headers=[cookie_header(key), (b"origin", ALLOWED_ORIGIN)])

    assert code == CLOSE_UNAUTHENTICATED


async def test_deactivated_user_is_refused_with_token(user: User) -> None:
    raw = await database_sync_to_async(api_token)(user)
    await database_sync_to_async(user_deactivate)(user=user)

    code = await refused(headers=[(b"authorization", f"Bearer {raw}".encode())])

    assert code == CLOSE_UNAUTHENTICATED


async def test_deactivation_racing_the_handshake_is_caught_before_accept(
    user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The token lookup saw an active user; the deactivation commits before the socket joins its
    # user group, so the close control message cannot reach it. The consumer re-checks.
    from apps.accounts import websocket

    seen = APIToken(pk=1, user=user)  # what the lookup found, before the deactivation
    monkeypatch.setattr(websocket, "token_lookup", lambda raw: seen)
    await database_sync_to_async(User.objects.filter(pk=user.pk).update)(is_active=False)

    code = await refused(headers=[(b"authorization", b"Bearer enc_anything")])

    assert code == CLOSE_UNAUTHENTICATED


async def test_logout_racing_the_handshake_is_caught_before_accept(
    user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The session was valid when the middleware read it and is gone (logged out) by the time
    # the socket joins its user group.
    from django.contrib.sessions.models import Session

    from apps.chat import consumers

    key = await database_sync_to_async(session_cookie)(user)
    real_socket_state = consumers._socket_state

    def logout_first(**kwargs):
        Session.objects.filter(session_key=key).delete()
        return real_socket_state(**kwargs)

    monkeypatch.setattr(consumers, "_socket_state", logout_first)

    code = await refused(headers=[cookie_header(key), (b"origin", ALLOWED_ORIGIN)])

    assert code == CLOSE_UNAUTHENTICATED
