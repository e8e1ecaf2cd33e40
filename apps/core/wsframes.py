"""Fan-out frames written straight to the socket under uvicorn (the production server).

Every member of a channel gets the same event, and a server's text frame is the same bytes
for every socket that negotiated no extension (no compression): `text_frame` builds those
bytes once per event, and `DirectFrames.write` hands them to a socket's transport. Through
ASGI each socket would instead build its own frame (uvicorn's `send`, websockets' framing,
Channels' session wrapper: about a tenth of a busy server's event loop).

Only what ASGI would have done is done: the frame is the one websockets would have written,
and only while the connection is open with nothing negotiated. There is no awaiting the
transport's flow control: a reader too slow to take its events lets its send buffer grow to
`ENCLAVE_WS_SEND_BUFFER_MAX_BYTES`, then `write` answers `OVERFLOW` and the consumer closes
the socket (the client reconnects and catches up with `?after_seq=`; nothing is lost). Behind
ASGI, such a reader would instead hold up the whole process's fan-out until uvicorn's ping
timeout.

`DirectFramesMiddleware` offers it as the ASGI scope extension `enclave.direct_frames` when
the server is uvicorn's websockets-sansio implementation; elsewhere (daphne, tests) sockets
take the ASGI path.
"""

from __future__ import annotations

import enum
import struct
from typing import Any

SCOPE_EXTENSION = "enclave.direct_frames"


def text_frame(payload: bytes) -> bytes:
    """A final, unmasked text frame (RFC 6455 §5.2), as a server sends it."""
    length = len(payload)
    if length < 126:
        return struct.pack("!BB", 0x81, length) + payload
    if length < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, length) + payload
    return struct.pack("!BBQ", 0x81, 127, length) + payload


class Written(enum.Enum):
    SENT = "sent"
    UNAVAILABLE = "unavailable"  # take the ASGI path
    OVERFLOW = "overflow"  # the reader is too slow: close the socket


class DirectFrames:
    """The transport of one uvicorn WebSocket connection, for pre-built frames."""

    def __init__(self, protocol: Any, *, max_buffer: int) -> None:
        # websockets comes with uvicorn[standard]; it is not needed where uvicorn is absent.
        from websockets.protocol import State

        self._protocol = protocol
        self._max_buffer = max_buffer
        self._open = State.OPEN

    def write(self, frame: bytes) -> Written:
        protocol = self._protocol
        if (
            not protocol.handshake_complete
            or protocol.close_sent
            or protocol.disconnected
            or protocol.conn.state is not self._open
            or protocol.conn.extensions
        ):
            return Written.UNAVAILABLE
        transport = protocol.transport
        if transport.is_closing():
            return Written.UNAVAILABLE
        if transport.get_write_buffer_size() > self._max_buffer:
            return Written.OVERFLOW
        transport.write(frame)
        return Written.SENT


class DirectFramesMiddleware:
    """Outermost WebSocket middleware: puts `DirectFrames` in the scope under uvicorn."""

    def __init__(self, app: Any, *, max_buffer: int) -> None:
        self.app = app
        self.max_buffer = max_buffer
        try:
            from uvicorn.protocols.websockets.websockets_sansio_impl import (
                WebSocketsSansIOProtocol,
            )
        except ImportError:  # uvicorn is the production server, not a requirement
            self._protocol_class: type | None = None
        else:
            self._protocol_class = WebSocketsSansIOProtocol

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        protocol = getattr(send, "__self__", None)
        if self._protocol_class is not None and isinstance(protocol, self._protocol_class):
            extensions = dict(scope.get("extensions") or {})
            extensions[SCOPE_EXTENSION] = DirectFrames(protocol, max_buffer=self.max_buffer)
            scope = dict(scope, extensions=extensions)
        return await self.app(scope, receive, send)
