"""A revoked or expired API token ends the sockets it opened, as a log-out ends a session's.

Over real sockets on the real ASGI application, on the in-process bus and on the Redis one.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.models import APIToken, User
from apps.accounts.services import CLOSE_CODE_TOKEN_REVOKED, api_token_create
from apps.chat.models import Channel, ChannelKind, Message
from tests.ws import WsClient

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("empty_cache")]

Connect = Callable[..., Awaitable[WsClient]]


@pytest.fixture(params=["in-process", pytest.param("redis", marks=pytest.mark.redis)])
def bus_ws(request: pytest.FixtureRequest, settings: Any) -> Connect:
    """`ws_connect` on the in-process bus, then on the real Redis bus."""
    if request.param == "redis":
        request.getfixturevalue("settings_redis_realtime")
    else:
        settings.ENCLAVE_REALTIME_URL = ""
    return request.getfixturevalue("ws_connect")  # type: ignore[no-any-return]


@pytest.fixture
def room(make_user: Callable[..., User], make_channel: Callable[..., Channel]) -> Any:
    ann = make_user()
    return ann, make_channel(kind=ChannelKind.PRIVATE, admins=(ann,))


def _token(user: User) -> tuple[int, str]:
    token, raw = api_token_create(user=user, name="socket")
    return token.pk, raw


def _revoke_over_rest(raw: str, token_id: int) -> int:
    """DELETE /api/v1/auth/tokens/{id}/ authenticated by the very token it revokes."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client.delete(f"/api/v1/auth/tokens/{token_id}/").status_code


def _send(channel: Channel, body: str) -> dict[str, Any]:
    return {
        "type": "message.send",
        "channel_id": channel.pk,
        "body": body,
        "client_msg_id": str(uuid.uuid4()),
    }


async def test_revoking_a_token_closes_its_sockets_at_once(bus_ws: Connect, room: Any) -> None:
    ann, channel = room
    token_id, raw = await database_sync_to_async(_token)(ann)
    revoked = [await bus_ws(ann, token=raw), await bus_ws(ann, token=raw)]
    other_token = await bus_ws(ann, auth="token")
    browser = await bus_ws(ann, auth="session")

    assert await database_sync_to_async(_revoke_over_rest)(raw, token_id) == 204

    for socket in revoked:
        assert await socket.closed(within=2.0) == CLOSE_CODE_TOKEN_REVOKED
    # The user's other credentials keep their sockets.
    await other_token.assert_open()
    await browser.assert_open()
    ack = await other_token.ask(_send(channel, "still here"))
    assert ack["type"] == "ack", ack


async def test_a_revoked_token_socket_cannot_send_even_if_the_close_was_lost(
    bus_ws: Connect, room: Any, settings: Any
) -> None:
    ann, channel = room
    settings.ENCLAVE_WS_RECHECK_SECONDS = 0.3
    token_id, raw = await database_sync_to_async(_token)(ann)
    socket = await bus_ws(ann, token=raw)
    # Revoked without the control message, as if the bus had dropped it.
    await database_sync_to_async(APIToken.objects.filter(pk=token_id).update)(
        revoked_at=timezone.now()
    )

    await asyncio.sleep(0.4)
    await socket.send({**_send(channel, "after revocation"), "ref": "late"})

    assert await socket.closed(within=2.0) == CLOSE_CODE_TOKEN_REVOKED
    assert not await database_sync_to_async(Message.objects.filter(channel=channel).exists)()


async def test_an_expired_token_socket_is_closed_by_the_recheck(
    bus_ws: Connect, room: Any, settings: Any
) -> None:
    ann, _channel = room
    settings.ENCLAVE_WS_RECHECK_SECONDS = 0.3
    token_id, raw = await database_sync_to_async(_token)(ann)
    socket = await bus_ws(ann, token=raw)
    await database_sync_to_async(APIToken.objects.filter(pk=token_id).update)(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    await asyncio.sleep(0.4)
    await socket.send({"type": "ping", "ref": "last", "v": 1})

    assert await socket.closed(within=2.0) == CLOSE_CODE_TOKEN_REVOKED


async def test_a_revocation_racing_the_handshake_is_caught_before_accept(
    bus_ws: Connect, room: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The token lookup saw a live token; the revocation commits before the socket registers.
    from apps.chat import consumers
    from tests.ws import handshake

    ann, _channel = room
    token_id, raw = await database_sync_to_async(_token)(ann)
    real_socket_state = consumers._socket_state

    def revoke_first(**kwargs: Any) -> Any:
        APIToken.objects.filter(pk=token_id).update(revoked_at=timezone.now())
        return real_socket_state(**kwargs)

    monkeypatch.setattr(consumers, "_socket_state", revoke_first)
    communicator, connected, _code = await handshake(
        headers=[(b"authorization", f"Bearer {raw}".encode())]
    )
    await communicator.disconnect(timeout=1)

    assert not connected
