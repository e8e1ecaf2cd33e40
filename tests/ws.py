"""A test client for `/ws/` that talks to the real ASGI application (config.asgi).

Every frame it receives is checked: events against their schema in apps.chat.events and
apps.calls.events (EVENT_SCHEMAS, strict pydantic validation), replies for their envelope. A
frame of an unknown type fails the test, so an event without a schema cannot slip onto the wire.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import types
from collections.abc import Callable
from typing import (
    Any,
    Literal,
    NotRequired,
    Required,
    Union,
    get_args,
    get_origin,
    get_type_hints,
    is_typeddict,
)
from urllib.parse import urlencode

import typing_extensions
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from pydantic import TypeAdapter

from apps.accounts.models import User
from apps.assistant.events import EVENT_SCHEMAS as ASSISTANT_EVENT_SCHEMAS
from apps.calls.events import EVENT_SCHEMAS as CALL_EVENT_SCHEMAS
from apps.chat.events import EVENT_SCHEMAS as CHAT_EVENT_SCHEMAS
from apps.governance.events import EVENT_SCHEMAS as GOVERNANCE_EVENT_SCHEMAS
from apps.integrations.events import EVENT_SCHEMAS as INTEGRATION_EVENT_SCHEMAS
from apps.workspace.events import EVENT_SCHEMAS as WORKSPACE_EVENT_SCHEMAS

# Pushes of every app that publishes on /ws/ (apps.calls, apps.assistant and apps.integrations
# register their operations or events with chat).
EVENT_SCHEMAS = {
    **CHAT_EVENT_SCHEMAS,
    **CALL_EVENT_SCHEMAS,
    **ASSISTANT_EVENT_SCHEMAS,
    **INTEGRATION_EVENT_SCHEMAS,
    **WORKSPACE_EVENT_SCHEMAS,
    **GOVERNANCE_EVENT_SCHEMAS,
}
ALLOWED_ORIGIN = b"http://127.0.0.1"
FOREIGN_ORIGIN = b"https://evil.example"
REPLY_TYPES = frozenset({"ack", "error", "pong"})
SERVER_FRAME_TYPES = REPLY_TYPES | {"hello"}
# How long "receives nothing" checks listen. Pushes in these tests arrive in milliseconds.
QUIET = 0.3


class SocketClosed(AssertionError):
    def __init__(self, code: int | None) -> None:
        super().__init__(f"the server closed the socket (code {code})")
        self.code = code


@functools.cache
def _portable(annotation: Any) -> Any:
    """The same type with every `typing.TypedDict` rebuilt as a `typing_extensions.TypedDict`.

    pydantic refuses `typing.TypedDict` before Python 3.12, and apps.chat.events must not
    depend on typing_extensions (a test-only dependency through pydantic).
    """
    if is_typeddict(annotation):
        hints = get_type_hints(annotation, include_extras=True)
        fields = {key: _portable(value) for key, value in hints.items()}
        return typing_extensions.TypedDict(  # type: ignore[operator]
            annotation.__name__, fields, total=annotation.__total__
        )
    origin = get_origin(annotation)
    if origin is None or origin is Literal:
        return annotation
    args = tuple(_portable(arg) for arg in get_args(annotation))
    if origin is NotRequired:
        return typing_extensions.NotRequired[args[0]]
    if origin is Required:
        return typing_extensions.Required[args[0]]
    if origin in (Union, types.UnionType):
        return Union[args]  # noqa: UP007 - built from a tuple
    return origin[args if len(args) > 1 else args[0]]


@functools.cache
def _adapter(event_type: str) -> TypeAdapter[Any]:
    return TypeAdapter(_portable(EVENT_SCHEMAS[event_type]))


def check_frame(frame: Any, *, allow_internal_error: bool = False) -> dict[str, Any]:
    """Assert that a server frame has the envelope and, for events, matches its schema."""
    assert isinstance(frame, dict), frame
    assert frame.get("v") == 1, frame
    kind = frame.get("type")
    if kind in EVENT_SCHEMAS:
        _adapter(kind).validate_python(
            {key: value for key, value in frame.items() if key != "v"}, strict=True
        )
        return frame
    assert kind in SERVER_FRAME_TYPES, f"frame type without a schema: {frame}"
    if kind in REPLY_TYPES:
        assert "ref" in frame, frame
    if kind == "hello":
        assert isinstance(frame["user_id"], int), frame
        assert isinstance(frame["connection_id"], str), frame
        assert isinstance(frame["server_time"], float), frame
    if kind == "error":
        assert isinstance(frame["code"], str), frame
        assert isinstance(frame["message"], str), frame
        assert isinstance(frame["details"], dict), frame
        assert allow_internal_error or frame["code"] != "internal_error", frame
    return frame


def application() -> Any:
    from config.asgi import application as asgi_application

    return asgi_application


# --- credentials (sync: call through database_sync_to_async from async code) ---------------------


def session_cookie(user: User) -> str:
    """Log `user` in through Django's test client and return the session key."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def api_token(user: User, **kwargs: Any) -> str:
    from apps.accounts.services import api_token_create

    _token, raw = api_token_create(user=user, name="ws-test", **kwargs)
    return raw


def cookie_header(session_key: str) -> tuple[bytes, bytes]:
    from django.conf import settings

    return (b"cookie", f"{settings.SESSION_COOKIE_NAME}={session_key}".encode())


# --- the client ----------------------------------------------------------------------------------


class WsClient:
    """One open socket. Frames that are not the awaited reply are kept in `inbox`."""

    def __init__(self, communicator: WebsocketCommunicator, user: User | None) -> None:
        self.communicator = communicator
        self.user = user
        self.inbox: list[dict[str, Any]] = []
        self.hello: dict[str, Any] = {}
        self.allow_internal_error = False
        self._refs = itertools.count(1)

    async def _read(self, within: float) -> dict[str, Any]:
        future = self.communicator.future
        if future.done():
            future.result()  # re-raise the consumer's exception, if any
            raise SocketClosed(None)
        try:
            output = await asyncio.wait_for(self.communicator.output_queue.get(), within)
        except TimeoutError:
            if future.done():
                future.result()
            raise
        if output["type"] == "websocket.close":
            raise SocketClosed(output.get("code"))
        assert output["type"] == "websocket.send", output
        return check_frame(
            json.loads(output["text"]), allow_internal_error=self.allow_internal_error
        )

    async def send(self, frame: dict[str, Any]) -> None:
        """Send `frame` in the protocol's envelope (`"v": 1` unless the frame says otherwise)."""
        await self.communicator.send_json_to({"v": 1, **frame})

    async def send_text(self, text: str) -> None:
        await self.communicator.send_to(text_data=text)

    def next_ref(self) -> str:
        return f"r{next(self._refs)}"

    async def request(self, op_type: str, /, **fields: Any) -> dict[str, Any]:
        """Send an operation and return its reply (`ack`, `error` or `pong`)."""
        return await self.ask({"type": op_type, **fields})

    async def ask(self, frame: dict[str, Any], *, within: float = 2.0) -> dict[str, Any]:
        """Send `frame` (its `type` included) with a fresh `ref`; return the reply to it."""
        ref = self.next_ref()
        await self.send({**frame, "ref": ref})
        return await self.reply(ref, within=within)

    async def reply(self, ref: Any, *, within: float = 2.0) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            frame = await self._read(max(deadline - loop.time(), 0.001))
            if frame["type"] in REPLY_TYPES and frame.get("ref") == ref:
                return frame
            self.inbox.append(frame)

    async def event(
        self,
        event_type: str | None = None,
        *,
        within: float = 1.0,
        where: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, Any]:
        """The first pushed frame of `event_type` (and matching `where`), from the inbox first."""

        def matches(frame: dict[str, Any]) -> bool:
            if event_type is not None and frame["type"] != event_type:
                return False
            return where is None or where(frame)

        for index, frame in enumerate(self.inbox):
            if matches(frame):
                return self.inbox.pop(index)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            frame = await self._read(max(deadline - loop.time(), 0.001))
            if matches(frame):
                return frame
            self.inbox.append(frame)

    async def drain(self, quiet: float = QUIET) -> list[dict[str, Any]]:
        """Every frame received until the socket stays quiet for `quiet` seconds."""
        frames, self.inbox = self.inbox, []
        while True:
            try:
                frames.append(await self._read(quiet))
            except TimeoutError:
                return frames

    async def assert_nothing(self, event_type: str | None = None, quiet: float = QUIET) -> None:
        """No frame (of `event_type`) arrives within `quiet` seconds; others stay in the inbox."""
        frames = await self.drain(quiet)
        unexpected = [f for f in frames if event_type is None or f["type"] == event_type]
        assert not unexpected, unexpected
        self.inbox = frames

    async def assert_open(self) -> None:
        pong = await self.request("ping")
        assert pong["type"] == "pong", pong

    async def closed(self, within: float = 1.0) -> int | None:
        """Wait for the server to close the socket; return the close code."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        try:
            while True:
                self.inbox.append(await self._read(max(deadline - loop.time(), 0.001)))
        except SocketClosed as closed:
            return closed.code

    async def disconnect(self) -> None:
        """Close from the client side and let the consumer run its disconnect handler.

        The timeout is short on purpose: a consumer whose disconnect handler is stuck is
        cancelled after a second rather than holding up the suite.
        """
        if self.communicator.future.done():
            return
        await self.communicator.disconnect(timeout=1)


async def handshake(
    *,
    headers: list[tuple[bytes, bytes]] | None = None,
    query: dict[str, str] | None = None,
) -> tuple[WebsocketCommunicator, bool, int | None]:
    path = "/ws/" + (f"?{urlencode(query)}" if query else "")
    communicator = WebsocketCommunicator(application(), path, headers=headers or [])
    connected, detail = await communicator.connect(timeout=2)
    return communicator, connected, None if connected else detail


async def refused(
    *,
    headers: list[tuple[bytes, bytes]] | None = None,
    query: dict[str, str] | None = None,
) -> int | None:
    """Attempt a handshake that must be refused; return the close code."""
    communicator, connected, code = await handshake(headers=headers, query=query)
    await communicator.disconnect(timeout=1)
    assert not connected, "the handshake was accepted"
    return code


async def open_socket(
    user: User,
    *,
    auth: str = "token",
    session_key: str | None = None,
    token: str | None = None,
    origin: bytes | None = ALLOWED_ORIGIN,
) -> WsClient:
    """An authenticated socket for `user` whose `hello` has been read.

    auth="token": `token` (else a fresh API token) as `Authorization: Bearer` (no Origin, like
    an API client);
    auth="session": the session `session_key` (else a fresh log-in) plus `origin`, like a tab.
    """
    headers: list[tuple[bytes, bytes]] = []
    if auth == "token":
        raw = token or await database_sync_to_async(api_token)(user)
        headers.append((b"authorization", f"Bearer {raw}".encode()))
    elif auth == "session":
        key = session_key or await database_sync_to_async(session_cookie)(user)
        headers.append(cookie_header(key))
        if origin is not None:
            headers.append((b"origin", origin))
    else:  # pragma: no cover - a typo in a test
        raise ValueError(auth)
    communicator, connected, code = await handshake(headers=headers)
    assert connected, f"handshake refused with {code}"
    client = WsClient(communicator, user)
    client.hello = await client.event("hello")
    assert client.hello["user_id"] == user.pk
    return client
