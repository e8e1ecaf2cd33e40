"""The load generator's WebSocket clients (the lean one, and the one on the websockets library
that `--client websockets` uses) against a real server (websockets)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from tests.load.harness import leanws, libws


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Callable[[Coroutine[Any, Any, Any]], Any]:
    """Both loops, each in a thread of its own: the generator runs on uvloop, whose
    transports are not asyncio's classes."""
    import uvloop

    runner = uvloop.run if request.param == "uvloop" else asyncio.run

    def in_thread(coroutine: Coroutine[Any, Any, Any]) -> Any:
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(runner, coroutine).result()

    return in_thread


@pytest.fixture(params=["lean", "websockets"])
def client(request: pytest.FixtureRequest) -> Any:
    return leanws if request.param == "lean" else libws


async def exchange(handler: Any, script: Any) -> Any:
    async with serve(handler, "127.0.0.1", 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        return await script(f"ws://127.0.0.1:{port}/ws/?token=t")


def test_frames_of_every_size_both_ways_pings_and_a_clean_close(run: Any, client: Any) -> None:
    sizes = [0, 1, 125, 126, 65535, 65536, 200_000]

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        await ws.send(f"hello {ws.request.path}")
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, 5)  # the client answered
        async for text in ws:
            await ws.send(text)  # echo, fragmented by nothing: sizes up to 200 kB

    async def script(url: str) -> Any:
        received: list[bytes] = []
        done = asyncio.Event()

        def on_text(raw: bytes) -> None:
            received.append(raw)
            if len(received) == len(sizes):
                done.set()

        socket, first = await client.connect(url, on_text)
        for size in sizes:
            assert socket.send_text("é" * size)
        await asyncio.wait_for(done.wait(), 5)
        await socket.close()
        return first, received, await socket.closed

    first, received, code = run(exchange(handler, script))

    assert first == b"hello /ws/?token=t"
    assert received == [("é" * size).encode() for size in sizes]
    assert code == 1000


def test_a_server_close_is_answered_and_reported(run: Any, client: Any) -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send("hello")
        await ws.close(4008, "too slow")

    async def script(url: str) -> Any:
        socket, _first = await client.connect(url, lambda raw: None)
        code = await asyncio.wait_for(socket.closed, 5)
        return code, socket.send_text("late")

    assert run(exchange(handler, script)) == (4008, False)


def test_a_refused_handshake_raises_with_its_status(run: Any, client: Any) -> None:
    async def handler(ws: ServerConnection) -> None: ...

    def refuse(connection: ServerConnection, request: Any) -> Any:
        return connection.respond(403, "no\n")

    async def attempt() -> int:
        async with serve(handler, "127.0.0.1", 0, process_request=refuse) as server:
            port = server.sockets[0].getsockname()[1]
            try:
                await client.connect(f"ws://127.0.0.1:{port}/ws/", lambda raw: None)
            except leanws.HandshakeFailed as failed:
                return failed.status
        return 0

    assert run(attempt()) == 403
