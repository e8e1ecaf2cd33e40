"""Sending is idempotent on (sender, client_msg_id) over REST and WebSocket alike
(docs/architecture/realtime.md)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.db import connection
from rest_framework.test import APIClient

from apps.accounts.models import User
from apps.chat.models import Channel, ChannelKind, Message
from tests.ws import WsClient

pytestmark = pytest.mark.django_db(transaction=True)

Connect = Callable[..., Awaitable[WsClient]]
SENDS = 100


@pytest.fixture
def pair(make_user: Callable[..., User], make_channel: Callable[..., Channel]) -> Any:
    ann, bob = make_user(), make_user()
    return ann, bob, make_channel(kind=ChannelKind.PRIVATE, members=(ann, bob))


def _rest_send(user: User, channel: Channel, client_msg_id: str, *, own_connection: bool) -> Any:
    client = APIClient()
    client.force_authenticate(user)
    try:
        response = client.post(
            f"/api/v1/channels/{channel.pk}/messages/",
            {"body": "exactly once", "client_msg_id": client_msg_id},
            format="json",
        )
    finally:
        if own_connection:
            connection.close()
    assert response.status_code in (200, 201), response.content
    return response.status_code, response.json()


async def test_one_client_msg_id_sent_a_hundred_times_over_rest_and_socket_is_one_message(
    ws_connect: Connect, pair: Any, settings: Any
) -> None:
    settings.ENCLAVE_WS_RATE_BURST = SENDS
    ann, bob, channel = pair
    ann_socket, bob_socket = await ws_connect(ann), await ws_connect(bob)
    client_msg_id = str(uuid.uuid4())
    frame = {
        "type": "message.send",
        "channel_id": channel.pk,
        "body": "exactly once",
        "client_msg_id": client_msg_id,
    }
    # On PostgreSQL the REST resends race the socket's for real (threads, own connections);
    # SQLite allows one writer, so there they queue behind the socket's worker thread.
    concurrent = connection.vendor == "postgresql"
    rest_send = sync_to_async(_rest_send, thread_sensitive=not concurrent)

    refs = [f"ws-{index}" for index in range(SENDS // 2)]
    rest_calls = []
    for ref in refs:  # interleave: a socket frame, a REST call, a socket frame, ...
        await ann_socket.send({**frame, "ref": ref})
        rest_calls.append(
            asyncio.ensure_future(rest_send(ann, channel, client_msg_id, own_connection=concurrent))
        )
    acks = [await ann_socket.reply(ref, within=10) for ref in refs]
    responses = await asyncio.gather(*rest_calls)

    rows = await database_sync_to_async(
        lambda: list(Message.objects.filter(channel=channel).values_list("pk", flat=True))
    )()
    assert len(rows) == 1
    assert {ack["type"] for ack in acks} == {"ack"}
    assert {ack["message_id"] for ack in acks} == set(rows)
    assert {body["message"]["id"] for _status, body in responses} == set(rows)
    created = [ack for ack in acks if not ack["duplicate"]] + [
        body for status, body in responses if status == 201
    ]
    assert len(created) == 1
    assert (
        sum(1 for _status, body in responses if body["duplicate"])
        + sum(1 for ack in acks if ack["duplicate"])
        == SENDS - 1
    )
    for socket in (bob_socket, ann_socket):
        event = await socket.event("message.new")
        assert event["message"]["id"] == rows[0]
        await socket.assert_nothing("message.new")


async def test_resend_after_the_ack_returns_the_original_and_publishes_nothing(
    ws_connect: Connect, pair: Any
) -> None:
    ann, bob, channel = pair
    ann_socket, bob_socket = await ws_connect(ann), await ws_connect(bob)
    frame = {
        "type": "message.send",
        "channel_id": channel.pk,
        "body": "once",
        "client_msg_id": str(uuid.uuid4()),
    }

    first = await ann_socket.ask(frame)
    again = await ann_socket.ask({**frame, "body": "a different body is ignored"})

    assert first["duplicate"] is False
    assert again["duplicate"] is True
    assert (again["message_id"], again["seq"]) == (first["message_id"], first["seq"])
    await bob_socket.event("message.new")
    await bob_socket.assert_nothing("message.new")


async def test_client_msg_id_reused_in_another_channel_is_a_conflict(
    ws_connect: Connect, pair: Any, make_channel: Callable[..., Channel]
) -> None:
    ann, _bob, channel = pair
    other = await database_sync_to_async(make_channel)(members=(ann,))
    ann_socket = await ws_connect(ann)
    client_msg_id = str(uuid.uuid4())
    frame = {"type": "message.send", "body": "x", "client_msg_id": client_msg_id}

    await ann_socket.ask({**frame, "channel_id": channel.pk})
    reply = await ann_socket.ask({**frame, "channel_id": other.pk})

    assert reply["code"] == "client_msg_id_reused"
    await ann_socket.assert_open()


async def test_same_client_msg_id_from_two_senders_is_two_messages(
    ws_connect: Connect, pair: Any
) -> None:
    ann, bob, channel = pair
    sockets = [await ws_connect(ann), await ws_connect(bob)]
    frame = {
        "type": "message.send",
        "channel_id": channel.pk,
        "body": "same id, other sender",
        "client_msg_id": str(uuid.uuid4()),
    }

    acks = [await socket.ask(frame) for socket in sockets]

    assert len({ack["message_id"] for ack in acks}) == 2
    assert [ack["duplicate"] for ack in acks] == [False, False]
