"""Sending files over the WebSocket: the same rules as REST, through the same service."""

from __future__ import annotations

import io
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async

from apps.accounts.models import User
from apps.chat.models import Channel, ChannelKind
from apps.files import services
from apps.files.models import Attachment
from tests.ws import WsClient

Connect = Callable[..., Awaitable[WsClient]]


def _upload(user: User, name: str = "notes.txt") -> Attachment:
    return services.attachment_upload(uploader=user, source=io.BytesIO(b"plain notes"), name=name)


@pytest.fixture
def room(make_user: Callable[..., User], make_channel: Callable[..., Channel]) -> Any:
    alice, bob = make_user(), make_user()
    return alice, bob, make_channel(kind=ChannelKind.PRIVATE, members=(alice, bob))


def _frame(channel: Channel, attachment_ids: Any) -> dict[str, Any]:
    return {
        "type": "message.send",
        "ref": "r1",
        "channel_id": channel.pk,
        "body": "",
        "client_msg_id": str(uuid.uuid4()),
        "attachment_ids": attachment_ids,
    }


@pytest.mark.django_db(transaction=True)
async def test_send_with_attachment_over_websocket_attaches_it(
    ws_connect: Connect, room: Any
) -> None:
    alice, _bob, channel = room
    attachment = await database_sync_to_async(_upload)(alice)
    socket = await ws_connect(alice)

    reply = await socket.ask(_frame(channel, [str(attachment.pk)]))

    assert reply["type"] == "ack", reply
    await database_sync_to_async(attachment.refresh_from_db)()
    assert attachment.message_id == reply["message_id"]


@pytest.mark.django_db(transaction=True)
async def test_someone_elses_attachment_is_refused_over_websocket(
    ws_connect: Connect, room: Any
) -> None:
    alice, bob, channel = room
    attachment = await database_sync_to_async(_upload)(alice)
    socket = await ws_connect(bob)

    reply = await socket.ask(_frame(channel, [str(attachment.pk)]))

    assert (reply["type"], reply["code"]) == ("error", "invalid_attachment")
    await socket.assert_open()


@pytest.mark.django_db(transaction=True)
async def test_attachment_ids_must_be_a_list_of_strings(ws_connect: Connect, room: Any) -> None:
    alice, _bob, channel = room
    socket = await ws_connect(alice)

    reply = await socket.ask(_frame(channel, "not-a-list"))

    assert (reply["type"], reply["code"]) == ("error", "invalid_field")
