"""The WebSocket endpoint `/ws/` (DESIGN.md §3-4): one socket per tab, JSON frames.

The consumer is an interface: it parses a frame, calls one service in a worker thread
(one thread hop per operation) and replies with `ack` or `error` carrying the client's `ref`.
Pushes arrive as pre-serialised frames and are written as-is: no per-recipient encoding, no
database access and no thread hop per delivered event.

Ordering: Channels hands a consumer one message at a time, so an operation's reply is written
before any push that the operation caused (the sender's tab sees `ack`, then `message.new`), and
control messages (join/leave/close) take effect in the order they were sent relative to pushes.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import import_module
from typing import Any

import orjson
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.accounts.services import (
    CLOSE_CODE_DEACTIVATED,
    CLOSE_CODE_SESSION_ENDED,
    session_key_fingerprint,
)
from apps.chat import events, presence, services
from apps.chat.models import Membership
from apps.core.errors import DomainError, InvalidInput
from apps.core.events import EVERYONE_GROUP, channel_group, encode_frame, user_group

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
# Channel-layer group adds/discards in flight at once while a socket opens or closes: a user in
# hundreds of channels should not pay one Redis round trip after another, nor open hundreds of
# connections at once.
GROUP_BATCH = 32


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


def _invalid_field(key: str, message: str) -> InvalidInput:
    return InvalidInput(message % {"field": key}, code="invalid_field", details={"field": key})


def _int(frame: dict[str, Any], key: str) -> int:
    value = frame.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _invalid_field(key, _("%(field)s must be an integer."))
    return value


def _optional_int(frame: dict[str, Any], key: str) -> int | None:
    return None if frame.get(key) is None else _int(frame, key)


def _str(frame: dict[str, Any], key: str) -> str:
    value = frame.get(key)
    if not isinstance(value, str):
        raise _invalid_field(key, _("%(field)s must be a string."))
    return value


# --- operations: each runs in a worker thread and returns the ack's extra fields -----------------


def _attachment_ids(frame: dict[str, Any]) -> list[str]:
    value = frame.get("attachment_ids")
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidInput(
            _("attachment_ids must be a list of ids."),
            code="invalid_field",
            details={"field": "attachment_ids"},
        )
    return value


def op_message_send(user: User, frame: dict[str, Any]) -> dict[str, Any]:
    client_msg_id = frame.get("client_msg_id")
    if client_msg_id is None or client_msg_id == "":
        raise InvalidInput(_("client_msg_id is required."), code="client_msg_id_required")
    result = services.message_send(
        sender=user,
        channel_id=_int(frame, "channel_id"),
        body=_str(frame, "body"),
        client_msg_id=_str(frame, "client_msg_id"),
        thread_root_id=_optional_int(frame, "thread_root_id"),
        attachment_ids=_attachment_ids(frame),
    )
    message = result.message
    return {
        "message_id": message.pk,
        "channel_id": message.channel_id,
        "seq": message.seq,
        "client_msg_id": str(message.client_msg_id),
        "duplicate": not result.created,
    }


def op_message_edit(user: User, frame: dict[str, Any]) -> dict[str, Any]:
    message = services.message_edit(
        user=user, message_id=_int(frame, "message_id"), body=_str(frame, "body")
    )
    return {"message_id": message.pk, "version": message.version}


def op_message_delete(user: User, frame: dict[str, Any]) -> dict[str, Any]:
    message = services.message_delete(user=user, message_id=_int(frame, "message_id"))
    return {"message_id": message.pk, "version": message.version}


def op_reaction_add(user: User, frame: dict[str, Any]) -> dict[str, Any]:
    message = services.reaction_add(
        user=user, message_id=_int(frame, "message_id"), emoji=_str(frame, "emoji")
    )
    return {"message_id": message.pk}


def op_reaction_remove(user: User, frame: dict[str, Any]) -> dict[str, Any]:
    message = services.reaction_remove(
        user=user, message_id=_int(frame, "message_id"), emoji=_str(frame, "emoji")
    )
    return {"message_id": message.pk}


def op_read_mark(user: User, frame: dict[str, Any]) -> dict[str, Any]:
    seq = services.read_mark(
        user=user, channel_id=_int(frame, "channel_id"), seq=_int(frame, "seq")
    )
    return {"last_read_seq": seq}


def op_typing(user: User, frame: dict[str, Any]) -> dict[str, Any]:
    services.typing_notify(
        user=user,
        channel_id=_int(frame, "channel_id"),
        thread_root_id=_optional_int(frame, "thread_root_id"),
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


def _run_operation(user: User, op_type: str, frame: dict[str, Any]) -> dict[str, Any]:
    """Worker-thread side of an operation: fresh user state, the user's language, one service.

    An unexpected failure (a bug, the database restarting) answers `internal_error` instead of
    killing the socket: sends are idempotent, so the client simply retries.
    """
    try:
        user.refresh_from_db(fields=["is_active", "role", "language"])
        with translation.override(user.language or settings.LANGUAGE_CODE):
            try:
                return {"ok": True, **OPERATIONS[op_type](user, frame)}
            except DomainError as error:
                return {"ok": False, **error.as_dict()}
    except Exception:
        logger.exception("WebSocket operation %s failed", op_type)
        return {
            "ok": False,
            "code": "internal_error",
            "message": _("The server could not complete this operation; try again."),
            "details": {},
        }


@dataclass(frozen=True, slots=True)
class SocketState:
    """What a socket may see right now: its channels, or the code it must close with."""

    channel_ids: frozenset[int]
    close_code: int | None = None


def _session_alive(session_key: str, user_id: int) -> bool:
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    return str(store.load().get("_auth_user_id")) == str(user_id)


def _socket_state(*, user_id: int, session_key: str | None) -> SocketState:
    """Re-check the socket's credentials and read its channel memberships.

    Precondition: the socket has joined its user group. A deactivation or log-out that happens
    after this check reaches the socket as a control message; one that happened before is seen
    here, so none slips between the handshake and the group join.
    """
    if not User.objects.filter(pk=user_id, is_active=True).exists():
        return SocketState(frozenset(), close_code=CLOSE_CODE_DEACTIVATED)
    if session_key is not None and not _session_alive(session_key, user_id):
        return SocketState(frozenset(), close_code=CLOSE_CODE_SESSION_ENDED)
    channel_ids = Membership.objects.filter(user_id=user_id).values_list("channel_id", flat=True)
    return SocketState(frozenset(channel_ids))


def _heartbeat(
    *, user: User, session_key: str | None, connection_id: str, presence_state: str
) -> SocketState:
    """Periodic self-repair of a long-lived socket (one thread hop every TTL/3).

    Pushes and control messages are at-most-once (a full or expired channel-layer queue drops
    them). Re-reading memberships and credentials bounds how long a lost `leave` or `close`
    can go unnoticed, and refreshing this tab's presence entry keeps it from expiring while
    the tab is open.
    """
    state = _socket_state(user_id=user.pk, session_key=session_key)
    if state.close_code is None:
        services.presence_update(user=user, connection_id=connection_id, state=presence_state)
    return state


class ClientConsumer(AsyncWebsocketConsumer):
    user: User
    channel_ids: set[int]
    connection_id: str
    session_key: str | None
    session_fingerprint: str | None

    # Pushes and control messages never touch the database, and operations go through
    # database_sync_to_async, which closes stale connections itself. Channels' default dispatch
    # would add a hop through the single sync thread before *every* message, pushes included.
    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        self.closing = False
        self.presence_registered = False
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user = user
        self.channel_ids = set()
        self.connection_id = uuid.uuid4().hex
        session = self.scope.get("session")
        session_key = getattr(session, "session_key", None)
        self.session_key = session_key if self.scope.get("auth_method") == "session" else None
        self.session_fingerprint = (
            session_key_fingerprint(self.session_key) if self.session_key else None
        )
        self.rate_limit = TokenBucket(
            settings.ENCLAVE_WS_RATE_PER_SECOND, settings.ENCLAVE_WS_RATE_BURST
        )
        self.presence_state = presence.ONLINE
        self.heartbeat_interval = settings.ENCLAVE_PRESENCE_TTL_SECONDS / 3
        self.heartbeat_due = time.monotonic() + self.heartbeat_interval
        # The user group first, memberships second: a join, leave or close sent from now on is
        # queued for this socket; anything committed earlier is in the state read below.
        await self.channel_layer.group_add(user_group(user.pk), self.channel_name)
        state = await database_sync_to_async(_socket_state)(
            user_id=user.pk, session_key=self.session_key
        )
        if state.close_code is not None:
            self.closing = True
            await self.channel_layer.group_discard(user_group(user.pk), self.channel_name)
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.channel_ids = set(state.channel_ids)
        await self._join_groups([EVERYONE_GROUP, *map(channel_group, self.channel_ids)])
        await self.accept()
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
        self.presence_registered = True
        await database_sync_to_async(services.presence_update)(
            user=user, connection_id=self.connection_id, state=presence.ONLINE
        )

    async def disconnect(self, code: int) -> None:
        # Also runs for a handshake that was refused, or cut while connect() was still running
        # (Channels delivers the disconnect after connect() returns).
        self.closing = True
        if not hasattr(self, "user"):
            return
        groups = [*map(channel_group, self.channel_ids), EVERYONE_GROUP, user_group(self.user.pk)]
        await self._leave_groups(groups)
        if self.presence_registered:
            await database_sync_to_async(services.presence_disconnect)(
                user=self.user, connection_id=self.connection_id
            )

    async def _join_groups(self, groups: Iterable[str]) -> None:
        await self._for_groups(self.channel_layer.group_add, list(groups))

    async def _leave_groups(self, groups: Iterable[str]) -> None:
        await self._for_groups(self.channel_layer.group_discard, list(groups))

    async def _for_groups(self, action: Callable[..., Any], groups: list[str]) -> None:
        for start in range(0, len(groups), GROUP_BATCH):
            batch = groups[start : start + GROUP_BATCH]
            await asyncio.gather(*(action(group, self.channel_name) for group in batch))

    async def _shut(self, code: int) -> None:
        """Close and stop writing: nothing more reaches a socket whose credentials ended."""
        self.closing = True
        await self.close(code=code)

    async def send_error(self, ref: Any, code: str, message: str, details: Any = None) -> None:
        await self.send(
            text_data=encode_frame(
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
        await self._handle(ref, frame)
        if time.monotonic() >= self.heartbeat_due and not self.closing:
            await self._heartbeat()

    async def _handle(self, ref: Any, frame: dict[str, Any]) -> None:
        op_type = frame.get("type")
        if op_type == "ping":
            await self.send(text_data=encode_frame({"type": "pong", "ref": ref}))
            return
        if op_type == "presence.set":
            await self._presence_set(ref, frame)
            return
        if not isinstance(op_type, str) or op_type not in OPERATIONS:
            await self.send_error(
                ref, "unknown_type", _("Unknown operation type."), {"type": str(op_type)[:64]}
            )
            return
        result = await database_sync_to_async(_run_operation)(self.user, op_type, frame)
        if result.pop("ok"):
            await self.send(text_data=encode_frame({"type": "ack", "ref": ref, **result}))
        else:
            await self.send_error(ref, result["code"], result["message"], result["details"])

    async def _presence_set(self, ref: Any, frame: dict[str, Any]) -> None:
        try:
            status = _str(frame, "status")
            await database_sync_to_async(services.presence_update)(
                user=self.user, connection_id=self.connection_id, state=status
            )
        except DomainError as error:
            await self.send_error(ref, error.code, error.message, error.details)
            return
        self.presence_state = status
        await self.send(text_data=encode_frame({"type": "ack", "ref": ref}))

    async def _heartbeat(self) -> None:
        self.heartbeat_due = time.monotonic() + self.heartbeat_interval
        state = await database_sync_to_async(_heartbeat)(
            user=self.user,
            session_key=self.session_key,
            connection_id=self.connection_id,
            presence_state=self.presence_state,
        )
        if state.close_code is not None:
            await self._shut(state.close_code)
            return
        lost = self.channel_ids - state.channel_ids
        gained = state.channel_ids - self.channel_ids
        # Drop before discarding, add before joining: the same order as the control messages.
        self.channel_ids -= lost
        await self._leave_groups(map(channel_group, lost))
        self.channel_ids |= gained
        await self._join_groups(map(channel_group, gained))

    # --- channel-layer handlers ------------------------------------------------------------------

    async def client_push(self, message: dict[str, Any]) -> None:
        if self.closing:
            return
        channel_id = message.get("channel_id")
        # Drop events of a channel this socket has just lost (removal races the group discard).
        if channel_id is not None and channel_id not in self.channel_ids:
            return
        await self.send(text_data=message["frame"])

    async def client_control(self, message: dict[str, Any]) -> None:
        if self.closing:
            return
        action = message.get("action")
        if action == "join":
            channel_id = int(message["channel_id"])
            self.channel_ids.add(channel_id)
            await self.channel_layer.group_add(channel_group(channel_id), self.channel_name)
        elif action == "leave":
            channel_id = int(message["channel_id"])
            self.channel_ids.discard(channel_id)
            await self.channel_layer.group_discard(channel_group(channel_id), self.channel_name)
        elif action == "close":
            session = message.get("session")
            if session is None or session == self.session_fingerprint:
                await self._shut(int(message.get("code", 4000)))


__all__ = ["OPERATIONS", "ClientConsumer", "events"]
