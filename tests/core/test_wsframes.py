"""apps.core.wsframes: fan-out frames written once and straight to uvicorn's transports."""

from __future__ import annotations

import types
import uuid
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from apps.accounts.models import User
from apps.chat.models import Channel, ChannelKind
from apps.core.wsframes import (
    SCOPE_EXTENSION,
    DirectFrames,
    DirectFramesMiddleware,
    Written,
    text_frame,
)


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70000])
def test_a_text_frame_is_the_one_websockets_writes(size: int) -> None:
    payload = ("é" * size).encode()[:size]

    expected = Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])

    assert text_frame(payload) == expected


class FakeTransport:
    def __init__(self, buffered: int = 0, closing: bool = False) -> None:
        self.buffered = buffered
        self.closing = closing
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return self.buffered


def fake_protocol(transport: FakeTransport, **state: Any) -> Any:
    defaults: dict[str, Any] = {
        "handshake_complete": True,
        "close_sent": False,
        "disconnected": False,
    }
    conn = types.SimpleNamespace(
        state=state.pop("conn_state", State.OPEN), extensions=state.pop("extensions", [])
    )
    return types.SimpleNamespace(**{**defaults, **state}, conn=conn, transport=transport)


def test_an_open_plain_socket_gets_the_frame() -> None:
    transport = FakeTransport()

    written = DirectFrames(fake_protocol(transport), max_buffer=100).write(b"frame")

    assert (written, transport.written) == (Written.SENT, [b"frame"])


@pytest.mark.parametrize(
    "state",
    [
        {"handshake_complete": False},
        {"close_sent": True},
        {"disconnected": True},
        {"conn_state": State.CLOSING},
        {"extensions": ["permessage-deflate"]},  # every socket compresses its own frames
    ],
)
def test_otherwise_the_asgi_path_is_taken(state: dict[str, Any]) -> None:
    transport = FakeTransport()

    written = DirectFrames(fake_protocol(transport, **state), max_buffer=100).write(b"frame")

    assert (written, transport.written) == (Written.UNAVAILABLE, [])


def test_a_closing_transport_is_not_written() -> None:
    transport = FakeTransport(closing=True)

    assert DirectFrames(fake_protocol(transport), max_buffer=100).write(b"x") is Written.UNAVAILABLE


def test_a_reader_that_fell_behind_overflows_instead_of_buffering_more() -> None:
    transport = FakeTransport(buffered=101)

    written = DirectFrames(fake_protocol(transport), max_buffer=100).write(b"frame")

    assert (written, transport.written) == (Written.OVERFLOW, [])


async def test_the_middleware_offers_direct_frames_only_under_uvicorn() -> None:
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

    seen: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope)

    middleware = DirectFramesMiddleware(app, max_buffer=100)
    protocol = object.__new__(WebSocketsSansIOProtocol)

    async def plain_send(message: Any) -> None: ...

    await middleware({"type": "websocket", "extensions": {"x": {}}}, None, protocol.send)
    await middleware({"type": "websocket"}, None, plain_send)

    assert isinstance(seen[0]["extensions"][SCOPE_EXTENSION], DirectFrames)
    assert seen[0]["extensions"]["x"] == {}
    assert SCOPE_EXTENSION not in (seen[1].get("extensions") or {})


# --- the consumer with direct frames --------------------------------------------------------------


class RecordingFrames:
    """Stands in for a uvicorn transport: records the frames or overflows."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.overflow = False

    def write(self, frame: bytes) -> Written:
        if self.overflow:
            return Written.OVERFLOW
        header = 4 if frame[1] == 126 else 2
        assert frame == text_frame(frame[header:])
        self.frames.append(orjson.loads(frame[header:]))
        return Written.SENT


@pytest.mark.django_db(transaction=True)
async def test_pushes_go_through_direct_frames_and_a_reader_too_slow_is_closed(
    ws_connect: Any,
    make_user: Callable[..., User],
    make_channel: Callable[..., Channel],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from channels.db import database_sync_to_async

    import tests.ws

    ann, bob = await database_sync_to_async(lambda: (make_user(), make_user()))()
    channel = await database_sync_to_async(
        lambda: make_channel(kind=ChannelKind.PRIVATE, admins=(ann,), members=(bob,))
    )()
    ann_socket = await ws_connect(ann)
    direct = RecordingFrames()
    real_application = tests.ws.application

    def with_direct_frames() -> Any:
        app = real_application()

        async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> Any:
            scope = dict(scope, extensions={SCOPE_EXTENSION: direct})
            return await app(scope, receive, send)

        return wrapped

    monkeypatch.setattr(tests.ws, "application", with_direct_frames)
    bob_socket = await ws_connect(bob)

    def message(body: str) -> dict[str, Any]:
        return {
            "type": "message.send",
            "channel_id": channel.pk,
            "body": body,
            "client_msg_id": str(uuid.uuid4()),
        }

    ack = await ann_socket.ask(message("first"))
    await ann_socket.event("message.new")
    await bob_socket.assert_nothing("message.new")  # not through ASGI...
    [pushed] = [f for f in direct.frames if f["type"] == "message.new"]  # ...but directly
    assert pushed["message"]["id"] == ack["message_id"]

    # Replies too: an ack and an error.
    await bob_socket.send({**message("from bob"), "ref": "b1"})
    await bob_socket.send({"type": "no.such.op", "ref": "b2"})
    await ann_socket.event("message.new")
    await bob_socket.assert_nothing()
    replies = {f["ref"]: f for f in direct.frames if f.get("ref") in ("b1", "b2")}
    assert replies["b1"]["type"] == "ack"
    assert replies["b1"]["seq"] == ack["seq"] + 1
    assert replies["b2"]["type"] == "error"
    assert replies["b2"]["code"] == "unknown_type"

    direct.overflow = True
    await ann_socket.ask(message("second"))

    assert await bob_socket.closed(within=2) == 4008
    await ann_socket.event("message.new")  # the sender's own tab is not held up
