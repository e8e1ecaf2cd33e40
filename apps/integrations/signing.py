"""Request signing for everything the server sends to a bot (outgoing webhooks, custom slash
commands, button clicks), documented in docs/integrations.md:

    X-Enclave-Request-Timestamp: <unix seconds>
    X-Enclave-Signature: v1=<hex HMAC-SHA256(secret, "v1:" + timestamp + ":" + body)>

The receiver recomputes the HMAC over the raw body and refuses timestamps older than five
minutes (a replayed request). `verify` is what the Python client does.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

TIMESTAMP_HEADER = "X-Enclave-Request-Timestamp"
SIGNATURE_HEADER = "X-Enclave-Signature"
MAX_AGE_SECONDS = 300


def new_secret() -> str:
    return secrets.token_hex(32)


def signature(*, secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), b"v1:%d:" % timestamp + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def signed_headers(*, secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    timestamp = int(now if now is not None else time.time())
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret=secret, timestamp=timestamp, body=body),
    }


def verify(*, secret: str, timestamp: str, signature_header: str, body: bytes) -> bool:
    """Whether a request carries a valid, fresh signature."""
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > MAX_AGE_SECONDS:
        return False
    expected = signature(secret=secret, timestamp=int(timestamp), body=body)
    return hmac.compare_digest(expected, signature_header)
