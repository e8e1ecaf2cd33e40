"""API token format and lookup, shared by REST authentication and the WebSocket handshake."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from apps.accounts import queries
from apps.accounts.models import APIToken, User
from apps.core.runtime.sqlrows import instances

TOKEN_PREFIX = "enc_"  # noqa: S105 - a public marker, not a secret
_LAST_USED_RESOLUTION = timedelta(minutes=5)


def token_generate() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def user_for_token(raw: str) -> User | None:
    """The active user a raw token belongs to, or None if it is unknown, revoked or expired."""
    token = token_lookup(raw)
    return None if token is None else token.user


def token_lookup(raw: str) -> APIToken | None:
    """The live token `raw` is (its `user` loaded and active), or None if it is unknown,
    revoked or expired, or its user is deactivated."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    # Every REST request and handshake: by hand and prepared (queries.unrevoked_token_rows).
    rows = queries.unrevoked_token_rows(digest=token_digest(raw))
    if not rows:
        return None
    token, user = instances(rows, (APIToken, User))[0]
    if not isinstance(token, APIToken) or not isinstance(user, User) or not user.is_active:
        return None
    token.user = user
    now = timezone.now()
    if token.expires_at is not None and token.expires_at <= now:
        return None
    # Write last_used_at at most every few minutes: tokens are used on every request.
    if token.last_used_at is None or now - token.last_used_at > _LAST_USED_RESOLUTION:
        _touch(token, now)
    return token


def _touch(token: APIToken, now: datetime) -> None:
    """Record that the token was used, without waiting for the disk.

    A handshake must not wait for a WAL flush only to note the time: on PostgreSQL this commit
    is asynchronous (`synchronous_commit` off for this transaction only; a crash may forget the
    last fraction of a second of such times, never anything else). A reconnect storm of 5,000
    tabs spent most of its handshake time in these flushes.
    """
    with transaction.atomic():
        queries.commit_without_waiting_for_disk()
        APIToken.objects.filter(pk=token.pk).update(last_used_at=now)
