"""Handshake security for `/ws/`: the Origin check.

Browsers always send `Origin` on a WebSocket handshake. A request with an Origin must come from
an allowed host; only then may the session cookie authenticate it (no cross-site WebSocket
hijacking). Who the socket belongs to (token or session, the second factor) is decided next, by
`apps.accounts.websocket.TokenAuthMiddleware`; config/asgi.py composes the two.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.http.request import split_domain_port, validate_host


def scope_header(scope: dict[str, Any], name: bytes) -> str | None:
    """The value of a handshake header (`name` in lower case), or None."""
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin1")
    return None


def origin_allowed(origin: str) -> bool:
    parsed = urlparse(origin)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return False
    domain, _port = split_domain_port(parsed.netloc)
    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    return bool(domain) and validate_host(domain, allowed)


class OriginCheckMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        origin = scope_header(scope, b"origin")
        if origin is not None and not origin_allowed(origin):
            # Deny before the consumer runs: the handshake gets HTTP 403.
            await send({"type": "websocket.close", "code": 4403})
            return None
        return await self.app(dict(scope, browser_origin=origin is not None), receive, send)
