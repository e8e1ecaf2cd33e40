"""What a log line is about: the request, socket, user or task the code runs for.

Interfaces bind it once (the request middleware, a socket when it opens, a Celery task when it
starts) and every record logged in that context carries it (apps.ops.logs adds it to each
record): `request_id`, `connection_id`, `user_id`, `task_name`, `task_id`. The context is a
contextvar, so it follows asyncio tasks and the worker threads of `sync_to_async`, and one
socket's or request's fields never leak into another's.

`correlation_id` follows one message from its WebSocket frame through the send batch to its
publication and its deliveries in every process: it is the message's `client_msg_id`, passed
explicitly (a batch holds many messages, so it cannot live in the context).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from contextvars import ContextVar, Token
from typing import Any

_EMPTY: Mapping[str, Any] = {}
_context: ContextVar[Mapping[str, Any]] = ContextVar("enclave_log_context", default=_EMPTY)

# An incoming X-Request-ID is kept only if it looks like an id (a proxy's or a client's): it is
# echoed in a response header and written to every log line of the request.
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def bind(**fields: Any) -> Token[Mapping[str, Any]]:
    """Add fields to the current context; `reset(token)` restores the previous one."""
    return _context.set({**_context.get(), **fields})


def reset(token: Token[Mapping[str, Any]]) -> None:
    _context.reset(token)


def current() -> Mapping[str, Any]:
    return _context.get()


def request_id_from(header: str | None) -> str:
    """The client's or proxy's X-Request-ID if it is a plausible id, else a new one."""
    if header and _REQUEST_ID_RE.fullmatch(header):
        return header
    return uuid.uuid4().hex
