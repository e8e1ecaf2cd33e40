"""Handshake security for `/ws/`: Origin check and token authentication.

Browsers always send `Origin` on a WebSocket handshake. A request with an Origin must come from
an allowed host; only then may the session cookie authenticate it (no cross-site WebSocket
hijacking). Clients without an Origin (non-browser API clients) must present an API token,
in `Authorization: Bearer ...` or as `?token=...`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.request import split_domain_port, validate_host

from apps.accounts.tokens import user_for_token


def _header(scope: dict[str, Any], name: bytes) -> str | None:
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
        origin = _header(scope, b"origin")
        if origin is not None and not origin_allowed(origin):
            # Deny before the consumer runs: the handshake gets HTTP 403.
            await send({"type": "websocket.close", "code": 4403})
            return None
        return await self.app(dict(scope, browser_origin=origin is not None), receive, send)


def _token_from(scope: dict[str, Any]) -> str | None:
    header = _header(scope, b"authorization")
    if header:
        scheme, _sep, value = header.partition(" ")
        if scheme.lower() in ("bearer", "token") and value:
            return value.strip()
    query = parse_qs(bytes(scope.get("query_string", b"")).decode("latin1"))
    values = query.get("token")
    return values[0] if values else None


# Same code as apps.chat.consumers.CLOSE_UNAUTHENTICATED (which re-checks after the handshake).
CLOSE_UNAUTHENTICATED = 4401
# The organisation requires a second factor that this browser session has not shown.
CLOSE_TWO_FACTOR_REQUIRED = 4403


def _session_lacks_second_factor(user: Any, session: Any) -> bool:
    from apps.accounts.two_factor import session_two_factor_verified, two_factor_missing

    return two_factor_missing(
        user=user, verified=session_two_factor_verified(user=user, session=session)
    )


class TokenAuthMiddleware:
    """Runs inside AuthMiddlewareStack: a token wins over the cookie; no Origin, no cookie.

    A handshake that authenticates nobody is refused here, before a consumer exists: an
    anonymous client (a scanner, a tab whose session expired and that keeps reconnecting)
    costs no channel-layer channel and no Redis receive.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        raw = _token_from(scope)
        if raw is not None:
            user = await database_sync_to_async(user_for_token)(raw)
            scope = dict(scope, user=user or AnonymousUser(), auth_method="token")
        elif scope.get("browser_origin"):
            scope = dict(scope, auth_method="session")
        else:
            scope = dict(scope, user=AnonymousUser(), auth_method=None)
        user = scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await send({"type": "websocket.close", "code": CLOSE_UNAUTHENTICATED})
            return None
        # One thread hop per handshake, for session sockets only (tokens were issued after
        # the token endpoint checked the second factor).
        if scope["auth_method"] == "session" and await database_sync_to_async(
            _session_lacks_second_factor
        )(user, scope.get("session")):
            await send({"type": "websocket.close", "code": CLOSE_TWO_FACTOR_REQUIRED})
            return None
        return await self.app(scope, receive, send)
