"""Fan-out frames written straight to the socket under uvicorn (the production server).

Every member of a channel gets the same event, and a server's text frame is the same bytes
for every socket that negotiated no extension (no compression): `text_frame` builds those
bytes once per event, and `DirectFrames.write` hands them to a socket's transport. Through
ASGI each socket would instead build its own frame (uvicorn's `send`, websockets' framing,
Channels' session wrapper: about a tenth of a busy server's event loop).

Frames written to one socket in one turn of the event loop leave in ONE transport write, at
the end of that turn (`Cork`): a socket in several busy channels otherwise costs a `send`
system call, and on loopback the receiver's TCP work too, per frame. Under load the turns
grow and so do the batches, which is what Nagle's algorithm used to do for us, without its
40 ms delayed-ACK stalls (docs/performance.md §5.20).

A busy socket's pushes also wait for each other across turns (`ENCLAVE_WS_PUSH_HOLD_MS`): a
push to a socket that gets pushes more often than that on average, and was written less than
that long ago, waits for the process's next hold tick, and leaves with whatever else came for
it meanwhile. A member of a busy 500-member channel gets a frame every few tens of
milliseconds, each in a turn of its own; one `send` (and one wake-up of its reader) per frame
was most of the kernel time of a loaded server. A socket with a push every few hundred
milliseconds (a member of a few small rooms) has nothing to gain from waiting and never waits,
unless a run of pushes in quick succession makes it busy; a socket that was quiet gets its push
at the end of the turn, as before; replies (acks, errors, answers) never wait: one takes the
held pushes along, in order, at the end of its turn.

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

import asyncio
import enum
import struct
import time
from typing import Any

SCOPE_EXTENSION = "enclave.direct_frames"

# How a socket's pushes are judged busy: an exponentially weighted mean of the time between
# them (each new gap weighs this much, and a gap counts as at most QUIET_GAP seconds, which is
# also where a new socket starts). From quiet, about ten pushes in quick succession make a
# socket busy; one push after a pause of a second makes it quiet again.
_GAP_WEIGHT = 0.3
QUIET_GAP = 1.0
_now = time.monotonic  # tests replace this clock, not the process-wide one


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


class Cork:
    """The sockets with frames waiting for the end of this turn of the event loop, and those
    whose pushes wait for the next hold tick (at most `hold` seconds away)."""

    def __init__(self, hold: float = 0.0) -> None:
        self.hold = hold
        self.waiting: list[DirectFrames] = []
        self.held: list[DirectFrames] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        # The loop the next hold tick runs on, if one is due: its own, since `add` may move
        # `loop` to a new one while a tick is due on the old (tests run one loop after another).
        self._tick_loop: asyncio.AbstractEventLoop | None = None

    def add(self, frames: DirectFrames) -> None:
        if not self.waiting or self.stale():
            self.loop = asyncio.get_running_loop()
            self.loop.call_soon(self.flush)
        self.waiting.append(frames)

    def add_held(self, frames: DirectFrames) -> None:
        if self._tick_loop is None or self._tick_loop.is_closed():
            self._tick_loop = asyncio.get_running_loop()
            self._tick_loop.call_later(self.hold, self.flush_held)
        self.held.append(frames)

    def flush_held(self) -> None:
        self._tick_loop = None
        held, self.held = self.held, []
        for frames in held:
            frames.flush()

    def stale(self) -> bool:
        """True if the loop that was to flush is gone (tests run one loop after another)."""
        return self.loop is None or self.loop.is_closed()

    def flush(self) -> None:
        waiting, self.waiting = self.waiting, []
        for frames in waiting:
            frames.flush()


class DirectFrames:
    """The transport of one uvicorn WebSocket connection, for pre-built frames."""

    def __init__(self, protocol: Any, *, max_buffer: int, cork: Cork | None = None) -> None:
        # websockets comes with uvicorn[standard]; it is not needed where uvicorn is absent.
        from websockets.protocol import State

        self._protocol = protocol
        self._max_buffer = max_buffer
        self._open = State.OPEN
        self._cork = cork if cork is not None else Cork()
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._settled = False  # handshake complete and no extension: checked once
        self._room = 0  # what the send buffer takes beyond what it held at the turn's start
        self._due_this_turn = False  # the pending frames leave at the end of this turn
        self._flushed_at = float("-inf")  # _now() of the last write, if holding
        self._pushed_at = float("-inf")  # _now() of the last push, if holding
        self._push_gap = QUIET_GAP  # mean time between pushes, if holding (see _GAP_WEIGHT)

    def _writable(self) -> bool:
        protocol = self._protocol
        if not self._settled:
            # Until the handshake is done, and for good if it negotiated an extension.
            if not protocol.handshake_complete or protocol.conn.extensions:
                return False
            self._settled = True
        return not (
            protocol.close_sent
            or protocol.disconnected
            or protocol.conn.state is not self._open
            or protocol.transport.is_closing()
        )

    def write(self, frame: bytes, *, may_wait: bool = False) -> Written:
        """Queue `frame` for the end of this turn of the event loop; a push (`may_wait`) to a
        busy socket written less than the cork's `hold` ago, for the next hold tick.

        The connection's state is looked at by the first frame queued; later ones only add up
        against the send buffer (a close in between drops them at `flush`)."""
        hold = self._cork.hold
        busy = False
        if may_wait and hold:
            now = _now()
            gap = min(now - self._pushed_at, QUIET_GAP)
            self._push_gap += (gap - self._push_gap) * _GAP_WEIGHT
            self._pushed_at = now
            busy = self._push_gap < hold and now - self._flushed_at < hold
        if not self._pending or self._cork.stale():
            if not self._writable():
                return Written.UNAVAILABLE
            self._room = self._max_buffer - self._protocol.transport.get_write_buffer_size()
            if len(frame) > self._room:
                return Written.OVERFLOW
            if busy:
                self._cork.add_held(self)
            else:
                self._due_this_turn = True
                self._cork.add(self)
        elif self._pending_bytes + len(frame) > self._room:
            return Written.OVERFLOW
        elif not (may_wait or self._due_this_turn):  # a reply takes the held pushes along
            self._due_this_turn = True
            self._cork.add(self)
        self._pending.append(frame)
        self._pending_bytes += len(frame)
        return Written.SENT

    def flush(self) -> None:
        """Write what is queued now, in one piece. Call it before anything that goes through
        ASGI (a close, a fallback send), so frames keep their order. Frames still queued when
        the connection has started closing are dropped: they were pushes (hints) or replies
        the client will not read."""
        pending = self._pending
        if not pending:
            return
        self._pending = []
        self._pending_bytes = 0
        self._due_this_turn = False
        if self._cork.hold:
            self._flushed_at = _now()
        if self._writable():
            self._protocol.transport.write(pending[0] if len(pending) == 1 else b"".join(pending))


class DirectFramesMiddleware:
    """Outermost WebSocket middleware: puts `DirectFrames` in the scope under uvicorn."""

    def __init__(self, app: Any, *, max_buffer: int, push_hold: float = 0.0) -> None:
        self.app = app
        self.max_buffer = max_buffer
        # One per process: one end-of-turn callback and one hold tick for all its sockets.
        self.cork = Cork(hold=push_hold)
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
            extensions[SCOPE_EXTENSION] = DirectFrames(
                protocol, max_buffer=self.max_buffer, cork=self.cork
            )
            scope = dict(scope, extensions=extensions)
        return await self.app(scope, receive, send)
