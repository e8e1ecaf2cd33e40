"""The WebSocket endpoint `/ws/` (docs/architecture/realtime.md): one socket per tab, JSON frames.

The consumer is an interface: it parses a frame, calls one service in a worker thread and
replies with `ack` or `error` carrying the client's `ref`. `message.send` operations of all
sockets of a process are grouped (SendBatcher): one thread hop and one COMMIT per batch.
Pushes arrive from this process's real-time hub (apps.core.runtime.realtime) as pre-serialised
frames and are written as-is: no per-recipient encoding, no queue, no database access and no thread
hop per delivered event.

Ordering: a socket handles its client's frames one at a time, and pushes that arrive while an
operation runs are held until its reply is written (the sender's tab sees `ack`, then the
`message.new` it caused). Control messages (join/leave/close) act at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Any, TypeVar, cast

import orjson
from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from rest_framework.exceptions import ValidationError

from apps.accounts.models import User
from apps.accounts.services import (
    CLOSE_CODE_DEACTIVATED,
    CLOSE_CODE_SESSION_ENDED,
    CLOSE_CODE_TOKEN_REVOKED,
    session_key_fingerprint,
)
from apps.chat import commands, events, presence, queries, selectors, services
from apps.chat import serializers as s
from apps.chat.presence_keeper import PresenceKeeper
from apps.chat.send_batcher import (
    SendBatcher,
    _internal_error,
    _send_ack,
    _writer_pool,
    correlation_id,
)
from apps.core import logcontext
from apps.core.api import DB_INT_MAX, DB_INT_MIN
from apps.core.errors import DomainError, InvalidInput
from apps.core.events import (
    PROTOCOL_VERSION,
    channel_topic,
    encode_frame,
    presence_topic,
    user_topic,
)
from apps.core.inputs import OWN_CODES, FrameValidator
from apps.core.metrics import (
    WS_CONNECTIONS,
    WS_CONNECTIONS_OPENED,
    WS_OPERATIONS_FAILED,
    WS_OPERATIONS_OK,
    WS_OPERATIONS_REFUSED,
)
from apps.core.runtime import realtime
from apps.core.runtime.dbthread import socket_db_call
from apps.core.runtime.wsframes import SCOPE_EXTENSION as DIRECT_FRAMES
from apps.core.runtime.wsframes import DirectFrames, Written, text_frame

logger = logging.getLogger(__name__)
# A message's trail (frame received, batch committed; realtime adds publication and
# deliveries), keyed by its correlation id: off unless ENCLAVE_LOG_MESSAGE_TRAIL.
trail = realtime.trail

CLOSE_UNAUTHENTICATED = 4401
# The socket's reader fell so far behind that its send buffer is full (wsframes): the client
# reconnects at once and catches up, like after any other lost connection.
CLOSE_TOO_SLOW = 4008


class TokenBucket:
    """Per-socket rate limit: `rate` operations a second with bursts up to `burst`."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.capacity = float(burst)
        self.tokens = float(burst)
        self.updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def _too_large(raw: str | bytes, limit: int) -> bool:
    """Whether a frame is above `limit` bytes (UTF-8 for text frames)."""
    if isinstance(raw, bytes) or len(raw) > limit:
        return len(raw) > limit
    # A character is at most 4 bytes in UTF-8: only long text needs encoding to be measured.
    return len(raw) * 4 > limit and len(raw.encode()) > limit


def _parse(raw: str | bytes) -> tuple[dict[str, Any] | None, str]:
    """The frame as a JSON object, or None and why not."""
    try:
        frame = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None, _("The frame is not valid JSON.")
    if not isinstance(frame, dict):
        return None, _("The frame must be a JSON object.")
    return frame, ""


def _is_db_int(value: Any) -> bool:
    """An integer (not a bool) the database can hold: ids and seqs past it cannot exist."""
    return (
        isinstance(value, int) and not isinstance(value, bool) and DB_INT_MIN <= value <= DB_INT_MAX
    )


# --- operations: each runs in a worker thread and returns the ack's extra fields -----------------
# A frame is validated by the REST input serializer of the same operation (plus the ids a REST
# URL carries: apps/chat/serializers.py, "WebSocket frames"), compiled once into a fast check
# (apps/core/inputs.py): one rule per field on both paths.

_MESSAGE_SEND = FrameValidator(s.MessageSendFrame)
_MESSAGE_EDIT = FrameValidator(s.MessageEditFrame)
_MESSAGE_DELETE = FrameValidator(s.MessageDeleteFrame)
_REACTION = FrameValidator(s.ReactionFrame)
_READ = FrameValidator(s.ReadFrame)
_TYPING = FrameValidator(s.TypingFrame)
_PRESENCE_SET = FrameValidator(s.PresenceSetFrame)


def _fields(validator: FrameValidator, frame: dict[str, Any]) -> dict[str, Any]:
    """The frame's validated fields, or the InvalidInput the socket answers: the code a field
    gives its failure (`client_msg_id_required`, `invalid_seq`, ...) or `invalid_field`
    naming the first field that failed."""
    try:
        return validator(frame)
    except ValidationError as error:
        raise _frame_error(error) from None


def _frame_error(error: ValidationError) -> InvalidInput:
    detail: Any = error.detail
    field = next(iter(detail)) if isinstance(detail, dict) else "non_field_errors"
    first: Any = detail
    while isinstance(first, dict | list):
        first = next(iter(first.values())) if isinstance(first, dict) else first[0]
    code = getattr(first, "code", "")
    if code in OWN_CODES:
        return InvalidInput(str(first), code=code)
    return InvalidInput(str(first), code="invalid_field", details={"field": field})


def op_message_send(user: User, frame: dict[str, Any]) -> dict[str, Any]:
    # The socket path groups sends (SendBatcher); this is the same operation one at a time.
    request = _send_request(user, frame)
    if request.body.startswith("/"):
        ran = _command_send(user, request)
        if ran is not None:
            return ran
    result = services.message_send(
        sender=user,
        channel_id=request.channel_id,
        body=request.body,
        client_msg_id=request.client_msg_id,
        thread_root_id=request.thread_root_id,
        attachment_ids=request.attachment_ids,
    )
    ack = _send_ack(result)
    del ack["ok"]
    return ack


def op_message_edit(user: User, frame: dict[str, Any]) -> dict[str, Any]:
    data = _fields(_MESSAGE_EDIT, frame)
    message = services.message_edit(user=user, message_id=data["message_id"], body=data["body"])
    return {"message_id": message.pk, "version": message.version}


def op_message_delete(user: User, frame: dict[str, Any]) -> dict[str, Any]:
    data = _fields(_MESSAGE_DELETE, frame)
    message = services.message_delete(user=user, message_id=data["message_id"])
    return {"message_id": message.pk, "version": message.version}


def op_reaction_add(user: User, frame: dict[str, Any]) -> dict[str, Any]:
    data = _fields(_REACTION, frame)
    message = services.reaction_add(user=user, message_id=data["message_id"], emoji=data["emoji"])
    return {"message_id": message.pk}


def op_reaction_remove(user: User, frame: dict[str, Any]) -> dict[str, Any]:
    data = _fields(_REACTION, frame)
    message = services.reaction_remove(
        user=user, message_id=data["message_id"], emoji=data["emoji"]
    )
    return {"message_id": message.pk}


def op_read_mark(user: User, frame: dict[str, Any]) -> dict[str, Any]:
    data = _fields(_READ, frame)
    seq = services.read_mark(user=user, channel_id=data["channel_id"], seq=data["seq"])
    return {"last_read_seq": seq}


def op_typing(user: User, frame: dict[str, Any]) -> dict[str, Any]:
    data = _fields(_TYPING, frame)
    services.typing_notify(
        user=user, channel_id=data["channel_id"], thread_root_id=data.get("thread_root_id")
    )
    return {}


OPERATIONS: dict[str, Callable[[User, dict[str, Any]], dict[str, Any]]] = {
    "message.send": op_message_send,
    "message.edit": op_message_edit,
    "message.delete": op_message_delete,
    "reaction.add": op_reaction_add,
    "reaction.remove": op_reaction_remove,
    "read.mark": op_read_mark,
    "typing": op_typing,
}


def register_operation(
    op_type: str, handler: Callable[[User, dict[str, Any]], dict[str, Any]]
) -> None:
    """Add an operation of a higher app (apps.calls' `call.*`), from its AppConfig.ready():
    chat never imports those apps. It runs like chat's own: in the worker thread, with the
    user's language, a DomainError answered as an `error` event."""
    if OPERATIONS.setdefault(op_type, handler) is not handler:
        raise ValueError(f"WebSocket operation {op_type!r} is already registered")


def _run_operation(user: User, op_type: str, frame: dict[str, Any]) -> dict[str, Any]:
    """Worker-thread side of an operation: the user's language, one service.

    The socket's user object is kept fresh without a query per operation: a deactivation or
    log-out closes the socket (control message), a role or language change marks it for a
    refresh before its next operation, and the heartbeat re-reads it anyway.

    An unexpected failure answers instead of killing the socket: `unavailable` when the
    database is out of reach (restarting, failing over), which clients retry with the same
    ids, else `internal_error` (a bug).
    """
    try:
        with translation.override(user.language or settings.LANGUAGE_CODE):
            try:
                return {"ok": True, **OPERATIONS[op_type](user, frame)}
            except DomainError as error:
                return {"ok": False, **error.as_dict()}
    except Exception as error:
        logger.exception("WebSocket operation %s failed", op_type)
        return _internal_error(error)


def _command_send(user: User, request: services.SendRequest) -> dict[str, Any] | None:
    """Run the slash command `request.body` invokes, if it invokes one (None: post it).

    A send with files is always a message. Worker-thread side; a DomainError propagates.
    """
    if request.attachment_ids:
        return None
    found = commands.find_command(request.body, user)
    if found is None:
        return None
    command, args = found
    outcome = commands.command_run(
        user=user,
        channel_id=request.channel_id,
        command=command,
        args=args,
        client_msg_id=request.client_msg_id,
        thread_root_id=request.thread_root_id,
    )
    return commands.command_ack(outcome)


def _run_command_send(user: User, request: services.SendRequest) -> dict[str, Any] | None:
    """`_command_send` as an operation: the user's language, errors as an answer."""
    try:
        with translation.override(user.language or settings.LANGUAGE_CODE):
            try:
                ran = _command_send(user, request)
            except DomainError as error:
                return {"ok": False, **error.as_dict()}
    except Exception as error:
        logger.exception("Slash command failed")
        return _internal_error(error)
    return None if ran is None else {"ok": True, **ran}


def _send_request(user: User, frame: dict[str, Any]) -> services.SendRequest:
    data = _fields(_MESSAGE_SEND, frame)
    return services.SendRequest(
        sender=user,
        channel_id=data["channel_id"],
        body=data["body"],
        client_msg_id=data["client_msg_id"],
        thread_root_id=data.get("thread_root_id"),
        attachment_ids=data["attachment_ids"],
    )


def _request_id(scope: dict[str, Any]) -> str | None:
    """The handshake's X-Request-ID (a proxy's), if it is a plausible id."""
    for name, value in scope.get("headers") or ():
        if name == b"x-request-id":
            return logcontext.request_id_from(value.decode("latin-1"))
    return None


_PerLoop = TypeVar("_PerLoop")
# One of each per event loop (a server process has one; every async test gets a fresh loop).
_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[type, Any]] = (
    weakref.WeakKeyDictionary()
)


def _of_this_loop(kind: type[_PerLoop], make: Callable[[], _PerLoop]) -> _PerLoop:
    instances = _per_loop.setdefault(asyncio.get_running_loop(), {})
    if kind not in instances:
        instances[kind] = make()
    return cast(_PerLoop, instances[kind])


def presence_keeper() -> PresenceKeeper:
    return _of_this_loop(PresenceKeeper, PresenceKeeper)


def send_batcher() -> SendBatcher:
    return _of_this_loop(
        SendBatcher,
        lambda: SendBatcher(
            settings.ENCLAVE_SEND_WRITERS, window=settings.ENCLAVE_SEND_BATCH_WINDOW_MS / 1000
        ),
    )


@dataclass(frozen=True, slots=True)
class SocketState:
    """What a socket may see right now: its channels and its user's fresh fields, or the code
    it must close with."""

    channel_ids: frozenset[int]
    close_code: int | None = None
    role: str = ""
    language: str = ""


def _session_alive(session_key: str, user_id: int) -> bool:
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    return str(store.load().get("_auth_user_id")) == str(user_id)


def _socket_state(
    *, user_id: int, session_key: str | None, token_id: int | None = None
) -> SocketState:
    """Re-check the socket's credentials and read its user and channel memberships.

    Precondition: the socket is registered under its user topic. A deactivation, log-out or
    token revocation that happens after this check reaches the socket as a control message;
    one that happened before is seen here, so none slips between the handshake and the
    registration. An expired token is only ever seen here.
    """
    # In one round trip (PostgreSQL): queries.socket_state_rows.
    rows = queries.socket_state_rows(user_id=user_id, token_id=token_id, now=timezone.now())
    if not rows.user:
        return SocketState(frozenset(), close_code=CLOSE_CODE_DEACTIVATED)
    if session_key is not None and not _session_alive(session_key, user_id):
        return SocketState(frozenset(), close_code=CLOSE_CODE_SESSION_ENDED)
    if token_id is not None and not rows.token_live:
        return SocketState(frozenset(), close_code=CLOSE_CODE_TOKEN_REVOKED)
    [(role, language)] = rows.user
    return SocketState(frozenset(rows.channel_ids), role=role, language=language)


def _heartbeat(
    *,
    user: User,
    session_key: str | None,
    connection_id: str,
    presence_state: str,
    token_id: int | None = None,
) -> SocketState:
    """The socket's state, and this tab's presence recorded: one thread hop when the socket
    opens, and then every TTL/3 as the periodic self-repair of a long-lived socket.

    Pushes and control messages are at-most-once hints. Re-reading the user, memberships and
    credentials bounds how long a lost `leave` or `close` can go unnoticed, and refreshing
    this tab's presence entry keeps it from expiring while the tab is open.
    """
    state = _socket_state(user_id=user.pk, session_key=session_key, token_id=token_id)
    if state.close_code is None:
        services.presence_update(user=user, connection_id=connection_id, state=presence_state)
    return state


class ClientConsumer(AsyncWebsocketConsumer):
    """One browser tab or API client. Registered in this process's real-time hub under its
    user, its channels and the users whose presence it watches; the hub calls `deliver` and
    `control` directly (no channel layer, no per-socket queue)."""

    # No channel-layer channel per socket: apps.core.runtime.realtime delivers pushes and controls.
    channel_layer_alias = "__enclave_realtime_hub__"

    user: User
    channel_ids: set[int]
    watched: set[int]
    batcher: SendBatcher | None = None
    connection_id: str
    session_key: str | None
    session_fingerprint: str | None
    token_id: int | None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Channels' `AsyncConsumer.__call__` for a consumer with no channel layer, without
        its `await_many_dispatch`: that wraps every frame's `receive()` in a task and waits
        for it with `asyncio.wait` (a waiter future and callbacks per frame, about 3 % of a
        busy server's event loop), though with one source it awaits them in turn anyway."""
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass

    # Operations go through database_sync_to_async, which closes stale connections itself.
    # Channels' default dispatch would add a hop through the single sync thread before every
    # frame from the client.
    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        self.closing = False
        self.attached = False
        self.counted = False  # in the open-sockets gauge
        self.presence_registered = False
        # Until the socket is open, and while an operation runs: pushes wait here, controls
        # in `deferred` (applied once the memberships are known, in order).
        self.held: list[tuple[str, int | None, bytes]] | None = []
        # Under uvicorn: fan-out frames go straight to the transport
        # (apps/core/runtime/wsframes.py).
        self.direct: DirectFrames | None = (self.scope.get("extensions") or {}).get(DIRECT_FRAMES)
        self.deferred: list[dict[str, Any]] | None = []
        self.refresh_due = False
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user = user
        self.channel_ids = set()
        self.watched = {user.pk}
        self.connection_id = uuid.uuid4().hex
        # Every log line of this socket (this task, and the threads it calls) carries these.
        logcontext.bind(
            connection_id=self.connection_id,
            user_id=user.pk,
            request_id=_request_id(self.scope) or self.connection_id,
        )
        session = self.scope.get("session")
        session_key = getattr(session, "session_key", None)
        self.session_key = session_key if self.scope.get("auth_method") == "session" else None
        self.session_fingerprint = (
            session_key_fingerprint(self.session_key) if self.session_key else None
        )
        self.token_id = (
            self.scope.get("auth_token_id") if self.scope.get("auth_method") == "token" else None
        )
        self.rate_limit = TokenBucket(
            settings.ENCLAVE_WS_RATE_PER_SECOND, settings.ENCLAVE_WS_RATE_BURST
        )
        self.presence_state = presence.ONLINE
        self._schedule_heartbeats()
        # The user topic first, memberships second: a join, leave or close published from now
        # on reaches this socket; anything committed earlier is in the state read below.
        self.hub = realtime.hub()
        await self.hub.attach()
        self.attached = True
        self.hub.add(self, [user_topic(user.pk), presence_topic(user.pk)])
        state = await socket_db_call(_heartbeat)(
            user=user,
            session_key=self.session_key,
            connection_id=self.connection_id,
            presence_state=presence.ONLINE,
            token_id=self.token_id,
        )
        if state.close_code is not None:
            self.closing = True
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.presence_registered = True
        presence_keeper().track(self.connection_id, user.pk, presence.ONLINE)
        self._apply_fresh(state)
        self.channel_ids = set(state.channel_ids)
        self.hub.add(self, map(channel_topic, self.channel_ids))
        deferred, self.deferred = self.deferred or [], None
        for message in deferred:
            await self.control(message)
        if self.closing:
            return
        await self.accept()
        WS_CONNECTIONS.inc()
        WS_CONNECTIONS_OPENED.inc()
        self.counted = True
        logger.info("socket opened")
        await self.send(
            text_data=encode_frame(
                {
                    "type": "hello",
                    "user_id": user.pk,
                    "connection_id": self.connection_id,
                    "server_time": time.time(),
                }
            )
        )
        await self._release_held()

    def _topics(self) -> list[str]:
        return [
            user_topic(self.user.pk),
            *map(channel_topic, self.channel_ids),
            *map(presence_topic, self.watched),
        ]

    def _apply_fresh(self, state: SocketState) -> None:
        self.user.role = state.role
        self.user.language = state.language

    async def disconnect(self, code: int) -> None:
        # Also runs for a handshake that was refused, or cut while connect() was still running
        # (Channels delivers the disconnect after connect() returns).
        self.closing = True
        if getattr(self, "counted", False):
            self.counted = False
            WS_CONNECTIONS.dec()
            logger.info("socket closed (code %s)", code)
        if not getattr(self, "attached", False):
            return
        self.attached = False
        await self.hub.detach(self, self._topics())
        if self.presence_registered:
            presence_keeper().forget(self.connection_id)
            await socket_db_call(services.presence_disconnect)(
                user=self.user, connection_id=self.connection_id
            )

    async def _shut(self, code: int) -> None:
        """Close and stop writing: nothing more reaches a socket whose credentials ended."""
        self.closing = True
        if self.direct is not None:
            self.direct.flush()  # what was written before keeps its place ahead of the close
        await self.close(code=code)

    async def _write(self, frame: str, wire: bytes | None = None) -> None:
        """One frame to this client (`wire`: the same as a whole WebSocket frame, if built).
        Under uvicorn it goes straight to the transport (apps/core/runtime/wsframes.py), replies as
        well as pushes: framing acks through ASGI was ~7 % of the event loop's samples.
        """
        if self.direct is not None:
            written = self.direct.write(wire if wire is not None else text_frame(frame.encode()))
            if written is Written.SENT:
                return
            if written is Written.OVERFLOW:
                # Too slow to read its events: it reconnects and catches up (after_seq).
                logger.warning("closing a socket whose reader fell behind (user %s)", self.user.pk)
                await self._shut(CLOSE_TOO_SLOW)
                return
            self.direct.flush()  # frames queued earlier go first
        await self.base_send({"type": "websocket.send", "text": frame})

    async def send_error(self, ref: Any, code: str, message: str, details: Any = None) -> None:
        # The upgrade's canary gate reads these (ansible/roles/enclave_app/templates/error-rate.j2).
        failed = code in ("internal_error", "unavailable")
        (WS_OPERATIONS_FAILED if failed else WS_OPERATIONS_REFUSED).inc()
        await self._write(
            encode_frame(
                {
                    "type": "error",
                    "ref": ref,
                    "code": code,
                    "message": message,
                    "details": details or {},
                }
            )
        )

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        raw = text_data if text_data is not None else bytes_data
        if raw is None or self.closing:
            return
        # Every frame counts against the rate, malformed and oversized ones included.
        within_rate = self.rate_limit.take()
        limit = settings.ENCLAVE_WS_MAX_FRAME_BYTES
        if _too_large(raw, limit):
            await self.send_error(
                None,
                "frame_too_large",
                _("The frame is larger than %(max)d bytes.") % {"max": limit},
            )
            return
        frame, problem = _parse(raw)
        ref = frame.get("ref") if frame is not None else None
        if not within_rate:
            await self.send_error(ref, "rate_limited", _("Too many operations; slow down."))
            return
        if frame is None:
            await self.send_error(None, "malformed_frame", problem)
            return
        if self.refresh_due or time.monotonic() >= self.recheck_due:
            await self._heartbeat()
            if self.closing:
                return
        version = frame.get("v")
        if type(version) is not int or version != PROTOCOL_VERSION:
            # Any other change than an added field bumps `v` (docs/architecture/realtime.md): a
            # frame of another (or no) version may mean something else, so none of it is acted on.
            await self.send_error(
                ref,
                "unsupported_version",
                _('This server speaks version %(version)d of the protocol: send "v": %(version)d.')
                % {"version": PROTOCOL_VERSION},
                {"supported": [PROTOCOL_VERSION]},
            )
            return
        # Pushes that arrive while the operation runs wait for its reply: the sender's tab sees
        # `ack`, then the `message.new` it caused.
        self.held = []
        try:
            await self._handle(ref, frame)
        except Exception:
            WS_OPERATIONS_FAILED.inc()
            raise
        finally:
            await self._release_held()

    async def _release_held(self) -> None:
        held, self.held = self.held, None
        for frame, channel_id, wire in held or ():
            await self.deliver(frame, channel_id, wire)

    async def _handle(self, ref: Any, frame: dict[str, Any]) -> None:
        op_type = frame.get("type")
        if op_type == "ping":
            WS_OPERATIONS_OK.inc()
            await self._write(encode_frame({"type": "pong", "ref": ref}))
            return
        if op_type == "presence.set":
            await self._presence_set(ref, frame)
            return
        if op_type == "presence.subscribe":
            await self._presence_subscribe(ref, frame)
            return
        if not isinstance(op_type, str) or op_type not in OPERATIONS:
            await self.send_error(
                ref, "unknown_type", _("Unknown operation type."), {"type": str(op_type)[:64]}
            )
            return
        if op_type == "message.send":
            result = await self._message_send(frame)
        else:
            result = await socket_db_call(_run_operation)(self.user, op_type, frame)
        if result.pop("ok"):
            WS_OPERATIONS_OK.inc()
            await self._write(encode_frame({"type": "ack", "ref": ref, **result}))
        else:
            await self.send_error(ref, result["code"], result["message"], result["details"])

    async def _message_send(self, frame: dict[str, Any]) -> dict[str, Any]:
        try:
            request = _send_request(self.user, frame)
        except DomainError:
            # Errors are translated when raised: check again in the sender's language (only
            # for a refused frame: two context-local writes per message were 2 % of the loop).
            with translation.override(self.user.language or settings.LANGUAGE_CODE):
                try:
                    request = _send_request(self.user, frame)
                except DomainError as error:
                    return {"ok": False, **error.as_dict()}
        if trail.isEnabledFor(logging.INFO):
            trail.info(
                "message.send received for channel %d",
                request.channel_id,
                extra={"correlation_id": correlation_id(request.client_msg_id)},
            )
        # Slash commands: the one test an ordinary message pays is this startswith.
        if request.body.startswith("/"):
            ran = await socket_db_call(_run_command_send)(self.user, request)
            if ran is not None:
                return ran
        batcher = self.batcher
        if batcher is None:  # this loop's, once per socket (a weak-keyed look-up per frame)
            batcher = self.batcher = send_batcher()
        return await batcher.submit(request)

    async def _presence_set(self, ref: Any, frame: dict[str, Any]) -> None:
        try:
            status = _fields(_PRESENCE_SET, frame)["status"]
            await socket_db_call(services.presence_update)(
                user=self.user, connection_id=self.connection_id, state=status
            )
        except DomainError as error:
            await self.send_error(ref, error.code, error.message, error.details)
            return
        self.presence_state = status
        presence_keeper().track(self.connection_id, self.user.pk, status)
        WS_OPERATIONS_OK.inc()
        await self._write(encode_frame({"type": "ack", "ref": ref}))

    async def _presence_subscribe(self, ref: Any, frame: dict[str, Any]) -> None:
        """Watch exactly these users' presence (plus one's own); the ack carries their status.

        Presence is not broadcast: a tab watches the people it shows (its DMs, an open member
        list), so a reconnect storm costs O(watchers), not O(everyone online squared).
        """
        raw = frame.get("user_ids")
        limit = settings.ENCLAVE_PRESENCE_WATCH_MAX
        if not isinstance(raw, list) or len(raw) > limit or not all(_is_db_int(i) for i in raw):
            await self.send_error(
                ref,
                "invalid_field",
                _("user_ids must be a list of at most %(max)d user ids.") % {"max": limit},
                {"field": "user_ids"},
            )
            return
        statuses = await socket_db_call(selectors.presence_of)(
            user=self.user, user_ids=list(set(raw))
        )
        if self.closing:
            return
        watched = {*statuses, self.user.pk}
        self.hub.discard(self, map(presence_topic, self.watched - watched))
        self.hub.add(self, map(presence_topic, watched - self.watched))
        self.watched = watched
        WS_OPERATIONS_OK.inc()
        await self._write(
            encode_frame(
                {
                    "type": "ack",
                    "ref": ref,
                    "statuses": {str(uid): status for uid, status in statuses.items()},
                }
            )
        )

    def _schedule_heartbeats(self) -> None:
        # A random point in the second half of the interval: sockets that connected together (a
        # reconnect storm after a restart, a load test's ramp) would otherwise re-check in the
        # same seconds, every interval, and hold up the sends queued behind them on the
        # database thread (5,000 sockets: p99 ack 30-90 ms -> 255 ms in that half-minute).
        spread = 0.5 + random.random() / 2  # noqa: S311 - jitter, not a secret
        self.recheck_due = time.monotonic() + settings.ENCLAVE_WS_RECHECK_SECONDS * spread

    async def _heartbeat(self) -> None:
        """Re-check credentials and memberships (self-repair if a control was lost) and refresh
        presence: every ENCLAVE_WS_RECHECK_SECONDS, after a refresh control and after the
        real-time bus was interrupted."""
        self.refresh_due = False
        self._schedule_heartbeats()
        state = await socket_db_call(_heartbeat)(
            user=self.user,
            session_key=self.session_key,
            connection_id=self.connection_id,
            presence_state=self.presence_state,
            token_id=self.token_id,
        )
        if state.close_code is not None:
            await self._shut(state.close_code)
            return
        self._apply_fresh(state)
        lost = self.channel_ids - state.channel_ids
        gained = state.channel_ids - self.channel_ids
        self.channel_ids -= lost
        self.hub.discard(self, map(channel_topic, lost))
        self.channel_ids |= gained
        self.hub.add(self, map(channel_topic, gained))

    # --- called by the real-time hub ---------------------------------------------------------

    def deliver_now(self, frame: str, channel_id: int | None, wire: bytes) -> bool:
        """The push dealt with without awaiting (the common case: written to the transport,
        held, or dropped); False if `deliver` must write it (ASGI, or closing a slow reader)."""
        if self.closing:
            return True
        if self.held is not None:
            self.held.append((frame, channel_id, wire))
            return True
        # Drop events of a channel this socket has just lost (removal races the leave).
        if channel_id is not None and channel_id not in self.channel_ids:
            return True
        return self.direct is not None and self.direct.write(wire, may_wait=True) is Written.SENT

    async def deliver(self, frame: str, channel_id: int | None, wire: bytes) -> None:
        if not self.deliver_now(frame, channel_id, wire):
            await self._write(frame, wire)

    async def control(self, message: dict[str, Any]) -> None:
        if self.closing:
            return
        if self.deferred is not None:
            self.deferred.append(message)
            return
        action = message.get("action")
        if action == "join":
            channel_id = int(message["channel_id"])
            self.channel_ids.add(channel_id)
            self.hub.add(self, [channel_topic(channel_id)])
        elif action == "leave":
            channel_id = int(message["channel_id"])
            self.channel_ids.discard(channel_id)
            self.hub.discard(self, [channel_topic(channel_id)])
        elif action == "refresh":
            self.refresh_due = True
        elif action == "close":
            # For every socket of the user (deactivation), or only those opened with one
            # session (log-out) or one API token (revocation).
            session, token = message.get("session"), message.get("token")
            if (
                (session is None and token is None)
                or (session is not None and session == self.session_fingerprint)
                or (token is not None and token == self.token_id)
            ):
                await self._shut(int(message.get("code", 4000)))


__all__ = [
    "OPERATIONS",
    "ClientConsumer",
    "PresenceKeeper",
    "SendBatcher",
    "_writer_pool",
    "correlation_id",
    "events",
]
