"""A lean WebSocket client (RFC 6455, no extensions) for the load generator.

The generator of a 2-core box shares the cores with the server it measures, so its cost per
received frame matters: with `websockets`' asyncio client each frame went through a reader
task, an assembler queue and an `async for` per socket (about half a core for 10,000 frames a
second). Here a frame is parsed in `data_received` and handed to a callback at once. Text
frames only are expected from the server; pings are answered, a close is answered and
reported. Frames sent are masked, as a client's must be.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import ssl
import struct
from collections.abc import Callable
from typing import cast
from urllib.parse import urlsplit

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - the C speedups ship with websockets' wheels
    from websockets.utils import apply_mask

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


class HandshakeFailed(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class LeanSocket(asyncio.Protocol):
    """One client connection. `opened` resolves with the first text frame (the server's
    hello); every later text frame goes to `on_text`; `closed` resolves with the close code
    (1006 when the connection dropped without a close frame)."""

    def __init__(self, host: str, target: str, on_text: Callable[[bytes], None]) -> None:
        loop = asyncio.get_running_loop()
        self.host = host
        self.target = target
        self.on_text = on_text
        self.opened: asyncio.Future[bytes] = loop.create_future()
        self.closed: asyncio.Future[int] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self._key = base64.b64encode(os.urandom(16))
        self._handshaken = False
        self._buffer = bytearray()
        self._fragments: list[bytes] = []
        self.close_code: int | None = None

    # --- asyncio.Protocol -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(
            b"GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
            % (self.target.encode(), self.host.encode(), self._key)
        )

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self._handshaken and not self._read_handshake():
            return
        self._read_frames()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(self.close_code or 1006)

    # --- sending --------------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self._handshaken and self.close_code is None and not self.closed.done()

    def send_text(self, text: str) -> bool:
        """Queue a text frame; False if the connection is no longer open."""
        if not self.is_open or self.transport is None or self.transport.is_closing():
            return False
        self.transport.write(_client_frame(OP_TEXT, text.encode()))
        return True

    async def close(self, code: int = 1000, within: float = 5.0) -> None:
        if self.transport is None:
            return
        if self.is_open and not self.transport.is_closing():
            self.close_code = code
            self.transport.write(_client_frame(OP_CLOSE, struct.pack("!H", code)))
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), within)
        except TimeoutError:
            self.transport.abort()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # --- receiving ------------------------------------------------------------------------------

    def _read_handshake(self) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
        del self._buffer[: end + 4]
        status = int(head[0].split(" ", 2)[1])
        headers = {
            name.strip().lower(): value.strip()
            for name, _sep, value in (line.partition(":") for line in head[1:])
        }
        accept = base64.b64encode(hashlib.sha1(self._key + _GUID).digest()).decode()  # noqa: S324
        if status != 101 or headers.get("sec-websocket-accept") != accept:
            self.opened.set_exception(HandshakeFailed(status))
            if self.transport is not None:
                self.transport.close()
            return False
        self._handshaken = True
        return True

    def _read_frames(self) -> None:
        buffer = self._buffer
        while len(buffer) >= 2:
            first, second = buffer[0], buffer[1]
            length = second & 0x7F
            offset = 2
            if length == 126:
                if len(buffer) < 4:
                    return
                (length,) = struct.unpack_from("!H", buffer, 2)
                offset = 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                (length,) = struct.unpack_from("!Q", buffer, 2)
                offset = 10
            if len(buffer) < offset + length:
                return
            payload = bytes(buffer[offset : offset + length])
            del buffer[: offset + length]
            self._frame(first & 0x80 != 0, first & 0x0F, payload)

    def _frame(self, final: bool, opcode: int, payload: bytes) -> None:
        if opcode in (OP_TEXT, OP_BINARY, OP_CONTINUATION):
            self._fragments.append(payload)
            if not final:
                return
            message = b"".join(self._fragments)
            self._fragments.clear()
            if not self.opened.done():
                self.opened.set_result(message)
            else:
                self.on_text(message)
        elif opcode == OP_PING and self.transport is not None:
            self.transport.write(_client_frame(OP_PONG, payload))
        elif opcode == OP_CLOSE:
            code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
            if self.close_code is None:  # the server's close: answer it
                self.close_code = code
                if self.transport is not None:
                    self.transport.write(_client_frame(OP_CLOSE, payload[:2]))
            else:
                self.close_code = code
            if self.transport is not None:
                self.transport.close()
            if not self.opened.done():
                self.opened.set_exception(ConnectionError(f"closed with {code}"))


def _client_frame(opcode: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    return header + mask + apply_mask(payload, mask)


def tls_context(*, insecure: bool) -> ssl.SSLContext:
    """The client side of wss:// (`--insecure`: any certificate, e.g. a test host's own)."""
    context = ssl.create_default_context()
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


async def connect(
    url: str,
    on_text: Callable[[bytes], None],
    *,
    server_name: str = "",
    tls: ssl.SSLContext | None = None,
) -> tuple[LeanSocket, bytes]:
    """Open a socket to ws[s]://host:port/path?query; returns it and its first text frame.
    `server_name` (when set) is the Host header and the TLS SNI instead of the URL's host,
    which is then only the address to connect to (an nginx serving one domain)."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    host = parts.hostname or "127.0.0.1"
    secure = parts.scheme == "wss"
    port = parts.port or (443 if secure else 80)
    if secure and tls is None:
        tls = tls_context(insecure=False)
    header_host = server_name or (host if port == (443 if secure else 80) else f"{host}:{port}")
    loop = asyncio.get_running_loop()
    _transport, socket = await loop.create_connection(
        lambda: LeanSocket(header_host, target, on_text),
        host,
        port,
        ssl=tls if secure else None,
        server_hostname=(server_name or host) if secure else None,
    )
    try:
        first = await socket.opened
    except BaseException:
        socket.abort()
        raise
    return socket, first
