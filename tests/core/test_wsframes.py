"""apps.core.runtime.wsframes: fan-out frames written once and straight to uvicorn's transports."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from apps.accounts.models import User
from apps.chat.models import Channel, ChannelKind
from apps.core.runtime import wsframes
from apps.core.runtime.wsframes import (
    QUIET_GAP,
    SCOPE_EXTENSION,
    Cork,
    DirectFrames,
    DirectFramesMiddleware,
    Written,
    text_frame,
)
from tests.wsfakes import fake_protocol


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


async def test_an_open_plain_socket_gets_the_frame_at_the_end_of_the_turn() -> None:
    transport = FakeTransport()

    written = DirectFrames(fake_protocol(transport), max_buffer=100).write(b"frame")
    assert (written, transport.written) == (Written.SENT, [])
    await asyncio.sleep(0)

    assert transport.written == [b"frame"]


async def test_frames_of_one_turn_leave_in_one_write_per_socket_in_order() -> None:
    cork = Cork()
    first, second = FakeTransport(), FakeTransport()
    to_first = DirectFrames(fake_protocol(first), max_buffer=100, cork=cork)
    to_second = DirectFrames(fake_protocol(second), max_buffer=100, cork=cork)

    for frame in (b"a", b"b", b"c"):
        to_first.write(frame)
    to_second.write(b"x")
    await asyncio.sleep(0)
    to_first.write(b"d")  # the next turn: a write of its own
    await asyncio.sleep(0)

    assert first.written == [b"abc", b"d"]
    assert second.written == [b"x"]


class Clock:
    """`wsframes._now`, moved by the test (the hold ticks still run on the loop's own time)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(wsframes, "_now", fake)
    return fake


async def pushes_every(
    frames: DirectFrames, clock: Clock, gap: float, count: int, *, name: str = "p"
) -> None:
    """`count` pushes `gap` seconds apart, each in a turn of its own."""
    for index in range(count):
        clock.now += gap
        frames.write(f"{name}{index}".encode(), may_wait=True)
        await asyncio.sleep(0)


async def test_a_busy_sockets_pushes_wait_for_the_tick_and_leave_together(clock: Clock) -> None:
    cork = Cork(hold=0.05)
    transport = FakeTransport()
    frames = DirectFrames(fake_protocol(transport), max_buffer=100, cork=cork)

    # A push every 10 ms: the mean gap falls from QUIET_GAP (1 s) below the hold (50 ms) at
    # the ninth gap (0.01 + 0.99 * 0.7 ** 8 = 0.067; 0.01 + 0.99 * 0.7 ** 9 = 0.04995).
    await pushes_every(frames, clock, 0.01, 14)
    assert transport.written == [f"p{i}".encode() for i in range(9)]

    await asyncio.sleep(0.08)

    assert transport.written[9:] == [b"p9p10p11p12p13"]


async def test_pushes_a_few_hundred_ms_apart_never_wait(clock: Clock) -> None:
    cork = Cork(hold=0.05)
    transport = FakeTransport()
    frames = DirectFrames(fake_protocol(transport), max_buffer=100, cork=cork)

    await pushes_every(frames, clock, 0.3, 5)
    await pushes_every(frames, clock, 0.01, 3, name="q")  # a short burst: still not busy

    assert transport.written == [b"p0", b"p1", b"p2", b"p3", b"p4", b"q0", b"q1", b"q2"]
    assert cork.held == []


async def test_a_busy_socket_that_falls_quiet_gets_its_next_push_at_once(clock: Clock) -> None:
    cork = Cork(hold=0.05)
    transport = FakeTransport()
    frames = DirectFrames(fake_protocol(transport), max_buffer=100, cork=cork)
    await pushes_every(frames, clock, 0.001, 20)
    await asyncio.sleep(0.08)
    before = len(transport.written)
    assert before < 20  # it was held

    await pushes_every(frames, clock, QUIET_GAP, 1, name="late")

    assert transport.written[before:] == [b"late0"]


async def test_a_reply_takes_the_held_pushes_along_at_the_end_of_its_turn(clock: Clock) -> None:
    cork = Cork(hold=10.0)
    transport = FakeTransport()
    frames = DirectFrames(fake_protocol(transport), max_buffer=100, cork=cork)
    await pushes_every(frames, clock, 0.01, 2)  # with a 10-s hold, busy from the first gap
    assert transport.written == [b"p0"]

    frames.write(b"ack")  # a reply: never waits, and keeps its place after the push
    await asyncio.sleep(0)

    assert transport.written == [b"p0", b"p1ack"]
    cork.flush_held()  # the tick finds nothing left to write
    assert transport.written == [b"p0", b"p1ack"]


async def test_without_a_hold_pushes_leave_at_the_end_of_every_turn() -> None:
    transport = FakeTransport()
    frames = DirectFrames(fake_protocol(transport), max_buffer=100, cork=Cork())

    for frame in (b"a", b"b"):
        frames.write(frame, may_wait=True)
        await asyncio.sleep(0)

    assert transport.written == [b"a", b"b"]


async def test_flush_writes_at_once_so_an_asgi_send_after_it_keeps_its_place() -> None:
    transport = FakeTransport()
    frames = DirectFrames(fake_protocol(transport), max_buffer=100)

    frames.write(b"a")
    frames.write(b"b")
    frames.flush()
    transport.written.append(b"close")  # what uvicorn would write for websocket.close
    await asyncio.sleep(0)

    assert transport.written == [b"ab", b"close"]


async def test_frames_queued_when_the_connection_starts_closing_are_dropped() -> None:
    transport = FakeTransport()
    protocol = fake_protocol(transport)
    frames = DirectFrames(protocol, max_buffer=100)

    frames.write(b"a")
    protocol.close_sent = True  # never a data frame after the close frame
    await asyncio.sleep(0)

    assert transport.written == []


def test_a_cork_left_behind_by_a_closed_loop_schedules_on_the_next_one() -> None:
    cork = Cork()
    transport = FakeTransport()
    frames = DirectFrames(fake_protocol(transport), max_buffer=100, cork=cork)
    loop = asyncio.new_event_loop()

    def write_then_stop() -> None:
        frames.write(b"a")  # its end-of-turn callback never runs: the loop stops and closes
        loop.stop()

    loop.call_soon(write_then_stop)
    loop.run_forever()
    loop.close()
    assert transport.written == []

    async def write_and_wait() -> None:
        frames.write(b"b")
        await asyncio.sleep(0)

    asyncio.run(write_and_wait())

    assert transport.written == [b"ab"]


def test_a_hold_tick_left_behind_by_a_closed_loop_is_scheduled_again_on_the_next_one(
    clock: Clock,
) -> None:
    cork = Cork(hold=0.05)
    held_transport, other_transport = FakeTransport(), FakeTransport()
    held = DirectFrames(fake_protocol(held_transport), max_buffer=100, cork=cork)
    other = DirectFrames(fake_protocol(other_transport), max_buffer=100, cork=cork)
    loop = asyncio.new_event_loop()
    sent = b"".join(f"p{i}".encode() for i in range(14))

    async def busy_then_stop() -> None:
        # The last pushes wait for a tick that never runs: the loop stops and closes.
        await pushes_every(held, clock, 0.01, 14)
        loop.stop()

    task = loop.create_task(busy_then_stop())
    loop.run_forever()
    loop.close()
    assert task.done()
    assert b"".join(held_transport.written) != sent

    async def busy_on_the_next_loop() -> None:
        # The end-of-turn callback moves to this loop first, then pushes wait for a tick here.
        await pushes_every(other, clock, 0.01, 14)
        await asyncio.sleep(0.08)

    asyncio.run(busy_on_the_next_loop())

    assert len(other_transport.written) < 14
    assert b"".join(other_transport.written) == sent
    assert b"".join(held_transport.written) == sent


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
async def test_otherwise_the_asgi_path_is_taken(state: dict[str, Any]) -> None:
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


async def test_frames_waiting_for_the_end_of_the_turn_count_against_the_buffer() -> None:
    transport = FakeTransport(buffered=90)
    frames = DirectFrames(fake_protocol(transport), max_buffer=100)

    assert frames.write(b"12345") is Written.SENT
    assert frames.write(b"123456") is Written.OVERFLOW  # 90 + 5 + 6 > 100
    await asyncio.sleep(0)

    assert transport.written == [b"12345"]


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

    def write(self, frame: bytes, *, may_wait: bool = False) -> Written:
        if self.overflow:
            return Written.OVERFLOW
        header = 4 if frame[1] == 126 else 2
        assert frame == text_frame(frame[header:])
        self.frames.append(orjson.loads(frame[header:]))
        return Written.SENT

    def flush(self) -> None: ...


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
