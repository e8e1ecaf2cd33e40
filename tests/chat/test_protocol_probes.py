"""Probes of the `/ws/` protocol's edges: the envelope's version, integers out of range.

Over the real ASGI application; every frame received is schema-checked by tests/ws.py, which
also refuses `internal_error` replies.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async

from apps.accounts.models import User
from apps.chat.models import Channel, ChannelKind, Message
from tests.ws import WsClient

pytestmark = pytest.mark.django_db(transaction=True)

Connect = Callable[..., Awaitable[WsClient]]
ABSENT = object()


@pytest.fixture
def room(make_user: Callable[..., User], make_channel: Callable[..., Channel]) -> Any:
    ann = make_user()
    return ann, make_channel(kind=ChannelKind.PRIVATE, admins=(ann,))


def _send(channel_id: Any, **extra: Any) -> dict[str, Any]:
    return {
        "type": "message.send",
        "channel_id": channel_id,
        "body": "probe",
        "client_msg_id": str(uuid.uuid4()),
        **extra,
    }


@pytest.mark.parametrize("version", [2, 0, "1", 1.0, True, None, [1], ABSENT])
async def test_a_frame_that_is_not_version_1_is_refused_and_the_socket_stays_open(
    ws_connect: Connect, room: Any, version: Any
) -> None:
    ann, channel = room
    socket = await ws_connect(ann)
    frame = _send(channel.pk, ref="probe")
    if version is not ABSENT:
        frame["v"] = version

    await socket.send_text(json.dumps(frame))
    reply = await socket.reply("probe")

    assert reply["type"] == "error"
    assert reply["code"] == "unsupported_version"
    assert reply["details"] == {"supported": [1]}
    assert not await database_sync_to_async(Message.objects.filter(channel=channel).exists)()
    await socket.assert_open()


async def test_a_version_1_frame_is_accepted(ws_connect: Connect, room: Any) -> None:
    ann, channel = room
    socket = await ws_connect(ann)

    await socket.send_text(json.dumps({**_send(channel.pk), "v": 1, "ref": "ok"}))

    assert (await socket.reply("ok"))["type"] == "ack"


TOO_BIG = [2**63, 2**63 + 5, -(2**63) - 1, 2**64, 10**30]


@pytest.mark.parametrize("value", TOO_BIG)
@pytest.mark.parametrize(
    "frame",
    [
        lambda n: _send(n),
        lambda n: {"type": "message.edit", "message_id": n, "body": "x"},
        lambda n: {"type": "message.delete", "message_id": n},
        lambda n: {"type": "reaction.add", "message_id": n, "emoji": "👍"},
        lambda n: {"type": "reaction.remove", "message_id": n, "emoji": "👍"},
        lambda n: {"type": "read.mark", "channel_id": n, "seq": 1},
        lambda n: {"type": "typing", "channel_id": n},
        lambda n: {"type": "presence.subscribe", "user_ids": [n]},
    ],
    ids=[
        "send",
        "edit",
        "delete",
        "react",
        "unreact",
        "read",
        "typing",
        "presence.subscribe",
    ],
)
async def test_ids_out_of_range_answer_invalid_field_not_internal_error(
    ws_connect: Connect, room: Any, frame: Callable[[int], dict[str, Any]], value: int
) -> None:
    ann, _channel = room
    socket = await ws_connect(ann)

    reply = await socket.ask(frame(value))

    assert reply["type"] == "error", reply
    assert reply["code"] == "invalid_field", reply
    await socket.assert_open()


@pytest.mark.parametrize("value", TOO_BIG)
@pytest.mark.parametrize("field", ["seq", "thread_root_id"])
async def test_other_integers_out_of_range_answer_invalid_field(
    ws_connect: Connect, room: Any, field: str, value: int
) -> None:
    ann, channel = room
    socket = await ws_connect(ann)
    frame = (
        {"type": "read.mark", "channel_id": channel.pk, "seq": value}
        if field == "seq"
        else _send(channel.pk, thread_root_id=value)
    )

    reply = await socket.ask(frame)

    assert reply["type"] == "error", reply
    assert reply["code"] == "invalid_field", reply
    assert reply["details"]["field"] == field
