"""Who a `/ws/` socket belongs to: an API token, or the browser session and its second factor.

Runs inside Channels' AuthMiddlewareStack, after `apps.core.websocket.OriginCheckMiddleware`
(config/asgi.py composes them). A client with an Origin (a browser) may use its session cookie;
clients without one (non-browser API clients) must present an API token, in
`Authorization: Bearer ...` or as `?token=...`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.contrib.auth.models import AnonymousUser

from apps.accounts.tokens import token_lookup
from apps.core.websocket import scope_header


def _token_from(scope: dict[str, Any]) -> str | None:
    header = scope_header(scope, b"authorization")
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
    costs no per-socket queue and no Redis receive.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        raw = _token_from(scope)
        if raw is not None:
            token = await database_sync_to_async(token_lookup)(raw)
            # The socket keeps the token's id: revoking the token closes it (a control message
            # naming the token, and the periodic re-check).
            scope = dict(
                scope,
                user=token.user if token is not None else AnonymousUser(),
                auth_method="token",
                auth_token_id=token.pk if token is not None else None,
            )
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
