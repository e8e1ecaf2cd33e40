"""System checks of the calls settings (`manage.py check`, run by migrate and the deploy)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

# How often a meeting's page says it is still there (static/js/meeting.js, HEARTBEAT_MS).
CLIENT_HEARTBEAT_SECONDS = 15


def reconnect_window_check(**_kwargs: Any) -> list[checks.CheckMessage]:
    """The sweep must not drop a participant whose page is still reconnecting: its last
    heartbeat may be one interval older than the start of the outage."""
    needed = settings.ENCLAVE_MEETING_RECONNECT_SECONDS + CLIENT_HEARTBEAT_SECONDS
    if needed >= settings.ENCLAVE_CALL_STALE_SECONDS:
        return [
            checks.Error(
                f"ENCLAVE_CALL_STALE_SECONDS ({settings.ENCLAVE_CALL_STALE_SECONDS}) must be "
                f"longer than ENCLAVE_MEETING_RECONNECT_SECONDS "
                f"({settings.ENCLAVE_MEETING_RECONNECT_SECONDS}) plus the "
                f"{CLIENT_HEARTBEAT_SECONDS} s between heartbeats: a participant would be "
                "dropped while their page still reconnects.",
                hint="Raise ENCLAVE_CALL_STALE_SECONDS or lower ENCLAVE_MEETING_RECONNECT_SECONDS.",
                id="calls.E001",
            )
        ]
    return []
