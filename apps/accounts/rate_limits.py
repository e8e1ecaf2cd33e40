"""Fixed-window rate limits kept in Django's cache (Redis in production), for account pages."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache

WINDOW_SECONDS = 3600


def _hit(key: str, limit: int, window: int) -> bool:
    """Count one attempt under `key`; False once more than `limit` happened in the window."""
    cache.add(key, 0, timeout=window)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add() and incr()
        cache.set(key, 1, timeout=window)
        count = 1
    return count <= limit


def password_reset_allowed(*, ip_address: str | None, email: str) -> bool:
    """Whether another password-reset e-mail may be asked for, from this address and for this
    e-mail address (limits: ENCLAVE_PASSWORD_RESET_PER_IP / _PER_EMAIL an hour).

    Counts requests whether or not an account has the address, so the answer reveals nothing
    about which addresses have accounts.
    """
    per_ip = int(getattr(settings, "ENCLAVE_PASSWORD_RESET_PER_IP", 10))
    per_email = int(getattr(settings, "ENCLAVE_PASSWORD_RESET_PER_EMAIL", 3))
    email_key = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    ip_ok = _hit(f"pwreset:ip:{ip_address or '-'}", per_ip, WINDOW_SECONDS)
    email_ok = _hit(f"pwreset:email:{email_key}", per_email, WINDOW_SECONDS)
    return ip_ok and email_ok
