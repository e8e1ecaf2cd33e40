"""The WebSocket endpoint `/ws/` (DESIGN.md §3-4): one socket per tab, JSON frames.

The consumer is an interface: it parses a frame, calls one service in a worker thread
(one thread hop per operation) and replies with `ack` or `error` carrying the client's `ref`.
Pushes arrive as pre-serialised frames and are written as-is: no per-recipient encoding and no
database access per delivered event.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.accounts.services import session_key_fingerprint
from apps.chat import events, services
from apps.chat.models import Membership
from apps.core.errors import DomainError, InvalidInput
from apps.core.events import EVERYONE_GROUP, channel_group, encode_frame, user_group

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401


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


def _int(frame: dict[str, Any], key: str, *, required: bool = True) -> int | None:
    value = frame.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(
            _("%(field)s must be an integer.") % {"field": key}, code="invalid_field",
            details={"field": key},
        )
    return value


def _str(frame: dict[str, Any], key: str) -> str:
    value = frame.get(key)
    if not isinstance(value, str):
        raise InvalidInput(
            _("%(field)s must be a string.") % {"field": key}, code="invalid_field",
            details={"field": key},
        )
    return value


# --- operations: each runs in a worker thread and returns the ack's extra fields -----------------


def op_message_send(user: User, frame: dict[str, Any]) -> dict[str, Any]:
    if not frame.get("client_msg_id"):
        raise InvalidInput(_("client_msg_id is required."), code="client_msg_id_required")
    result = services.message_send(
        sender=user,
        channel_id=_int(frame, "channel_id") or 0,
        body=_str(frame, "body"),
        client_msg_id=frame.get("client_msg_id"),
        thread_root_id=_int(frame, "thread_root_id", required=False),
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
        user=user, message_id=_int(frame, "message_id") or 0, body=_str(frame, "body")
    )
    return {"message_id": message.pk, "version": message.version}


def op_message_delete(user: User, frame: dict[str, Any]) -> dict[str, Any]:
    message = services.message_delete(user=user, message_id=_int(frame, "message_id") or 0)
    return {"message_id": message.pk, "version": message.version}


def op_reaction_add(user: User, frame: dict[str, Any]) -> dict[str, Any]:
    message = services.reaction_add(
        user=user, message_id=_int(frame, "message_id") or 0, emoji=_str(frame, "emoji")
    )
    return {"message_id": message.pk}


def op_reaction_remove(user: User, frame: dict[str, Any]) -> dict[str, Any]:
    message = services.reaction_remove(
        user=user, message_id=_int(frame, "message_id") or 0, emoji=_str(frame, "emoji")
    )
    return {"message_id": message.pk}


def op_read_mark(user: User, frame: dict[str, Any]) -> dict[str, Any]:
    seq = services.read_mark(
        user=user, channel_id=_int(frame, "channel_id") or 0, seq=_int(frame, "seq") or 0
    )
    return {"last_read_seq": seq}


def op_typing(user: User, frame: dict[str, Any]) -> dict[str, Any]:
    services.typing_notify(
        user=user,
        channel_id=_int(frame, "channel_id") or 0,
        thread_root_id=_int(frame, "thread_root_id", required=False),
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
    """Worker-thread side of an operation: fresh user state, the user's language, one service."""
    user.refresh_from_db(fields=["is_active", "role", "language"])
    with translation.override(user.language or settings.LANGUAGE_CODE):
        try:
            return {"ok": True, **OPERATIONS[op_type](user, frame)}
        except DomainError as error:
            return {"ok": False, **error.as_dict()}


def _connection_setup(user: User) -> list[int]:
    return list(Membership.objects.filter(user=user).values_list("channel_id", flat=True))


class ClientConsumer(AsyncWebsocketConsumer):
    user: User
    channel_ids: set[int]
    connection_id: str
    session_fingerprint: str | None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user = user
        self.connection_id = uuid.uuid4().hex
        session = self.scope.get("session")
        session_key = getattr(session, "session_key", None)
        self.session_fingerprint = (
            session_key_fingerprint(session_key)
            if session_key and self.scope.get("auth_method") == "session"
            else None
        )
        self.rate_limit = TokenBucket(
            settings.ENCLAVE_WS_RATE_PER_SECOND, settings.ENCLAVE_WS_RATE_BURST
        )
        self.channel_ids = set(await database_sync_to_async(_connection_setup)(user))
        groups = [user_group(user.pk), EVERYONE_GROUP]
        groups += [channel_group(cid) for cid in self.channel_ids]
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
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
        await database_sync_to_async(services.presence_update)(
            user=user, connection_id=self.connection_id, state="online"
        )

    async def disconnect(self, code: int) -> None:
        if not hasattr(self, "user"):
            return
        groups = [user_group(self.user.pk), EVERYONE_GROUP]
        groups += [channel_group(cid) for cid in self.channel_ids]
        for group in groups:
            await self.channel_layer.group_discard(group, self.channel_name)
        await database_sync_to_async(services.presence_disconnect)(
            user=self.user, connection_id=self.connection_id
        )

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
        if raw is None:
            return
        if len(raw) > settings.ENCLAVE_WS_MAX_FRAME_BYTES:
            await self.send_error(
                None,
                "frame_too_large",
                _("The frame is larger than %(max)d bytes.")
                % {"max": settings.ENCLAVE_WS_MAX_FRAME_BYTES},
            )
            return
        try:
            frame = orjson.loads(raw)
        except orjson.JSONDecodeError:
            await self.send_error(None, "malformed_frame", _("The frame is not valid JSON."))
            return
        if not isinstance(frame, dict):
            await self.send_error(None, "malformed_frame", _("The frame must be a JSON object."))
            return
        ref = frame.get("ref")
        if not self.rate_limit.take():
            await self.send_error(ref, "rate_limited", _("Too many operations; slow down."))
            return
        op_type = frame.get("type")
        if op_type == "ping":
            await self.send(text_data=encode_frame({"type": "pong", "ref": ref}))
            return
        if op_type == "presence.set":
            await self._presence_set(ref, frame.get("status"))
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

    async def _presence_set(self, ref: Any, status: Any) -> None:
        try:
            await database_sync_to_async(services.presence_update)(
                user=self.user, connection_id=self.connection_id, state=status
            )
        except DomainError as error:
            await self.send_error(ref, error.code, error.message, error.details)
            return
        await self.send(text_data=encode_frame({"type": "ack", "ref": ref}))

    # --- channel-layer handlers ------------------------------------------------------------------

    async def client_push(self, message: dict[str, Any]) -> None:
        channel_id = message.get("channel_id")
        # Drop events of a channel this socket has just lost (removal races the group discard).
        if channel_id is not None and channel_id not in self.channel_ids:
            return
        await self.send(text_data=message["frame"])

    async def client_control(self, message: dict[str, Any]) -> None:
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
                await self.close(code=int(message.get("code", 4000)))


__all__ = ["OPERATIONS", "ClientConsumer", "events"]
