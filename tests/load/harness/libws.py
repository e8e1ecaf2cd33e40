"""The generator's socket on the `websockets` library (`--client websockets`), with LeanSocket's
interface (tests/load/harness/leanws.py), so one generator drives either.

The lean client writes frames straight to the transport and parses them in `data_received`;
a client built on a general library pays for that library's machinery per frame (a reader task,
a coroutine per send, its own framing and UTF-8 decoding): about twice the lean client's CPU
for the same traffic. Headroom is judged with both, so the server's numbers do not depend on
a generator tuned to be cheap (issue "Headroom").
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.load.harness.leanws import HandshakeFailed


class LibSocket:
    """`opened` is not needed (connect returns the first frame); `closed` resolves with the
    close code (1006 when the connection dropped without a close frame)."""

    def __init__(self, connection: ClientConnection, on_text: Callable[[bytes], None]) -> None:
        self.connection = connection
        self.on_text = on_text
        self.closed: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read())
        self._sends: set[asyncio.Task[None]] = set()

    async def _read(self) -> None:
        try:
            async for message in self.connection:
                self.on_text(message if isinstance(message, bytes) else message.encode())
        except ConnectionClosed:
            pass
        finally:
            code = self.connection.close_code
            if not self.closed.done():
                self.closed.set_result(code if code is not None else 1006)

    @property
    def is_open(self) -> bool:
        return not self.closed.done()

    def send_text(self, text: str) -> bool:
        """Queue a text frame; False if the connection is no longer open."""
        if not self.is_open:
            return False
        task = asyncio.create_task(self._send(text))
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)
        return True

    async def _send(self, text: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self.connection.send(text)

    async def close(self, code: int = 1000, within: float = 5.0) -> None:
        with contextlib.suppress(TimeoutError, ConnectionClosed):
            async with asyncio.timeout(within):
                await self.connection.close(code)
        self.abort()

    def abort(self) -> None:
        transport = self.connection.transport
        if transport is not None and not transport.is_closing():
            transport.abort()


async def connect(
    url: str,
    on_text: Callable[[bytes], None],
    *,
    server_name: str = "",
    tls: ssl.SSLContext | None = None,
) -> tuple[LibSocket, bytes]:
    """Open a socket with `websockets` (no compression, as the lean client); returns it and its
    first text frame. `server_name` and `tls` as in leanws.connect."""
    parts = urlsplit(url)
    extra: dict[str, Any] = {}
    if server_name:  # the name in the URL (Host, SNI); the address to connect to apart
        extra = {
            "host": parts.hostname,
            "port": parts.port or (443 if parts.scheme == "wss" else 80),
        }
        url = urlunsplit(parts._replace(netloc=server_name))
    if parts.scheme == "wss" and tls is not None:
        extra["ssl"] = tls
    try:
        connection = await ws_connect(
            url, compression=None, max_size=2**22, ping_interval=None, open_timeout=None, **extra
        )
    except InvalidStatus as error:
        raise HandshakeFailed(error.response.status_code) from error
    try:
        first = await connection.recv(decode=False)
    except BaseException:
        connection.transport.abort()
        raise
    return LibSocket(connection, on_text), first
