"""A per-process snapshot of the integration settings the send path consults (see hooks.py):
the channels with outgoing webhooks, whether any preview host is configured, and the
organisation's egress allow list. At most `_SNAPSHOT_SECONDS` old; a change made in this
process drops it at once.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

_SNAPSHOT_SECONDS = 10.0


@dataclass(frozen=True)
class _Snapshot:
    taken_at: float
    outgoing_channel_ids: frozenset[int]
    previews_on: bool
    egress_allowed: tuple[str, ...]


_lock = threading.Lock()
_snapshot: _Snapshot | None = None


def forget_cached_settings() -> None:
    global _snapshot
    _snapshot = None


def current() -> _Snapshot:
    global _snapshot
    snap = _snapshot
    if snap is not None and time.monotonic() - snap.taken_at < _SNAPSHOT_SECONDS:
        return snap
    with _lock:
        from apps.integrations.models import IntegrationSettings, OutgoingWebhook

        row = IntegrationSettings.objects.filter(pk=1).first()
        channel_ids = frozenset(
            OutgoingWebhook.objects.filter(revoked_at__isnull=True).values_list(
                "channel_id", flat=True
            )
        )
        snap = _Snapshot(
            taken_at=time.monotonic(),
            outgoing_channel_ids=channel_ids,
            previews_on=bool(row and row.link_preview_hosts.strip()),
            egress_allowed=tuple(
                line.strip()
                for line in (row.egress_allowed_hosts if row else "").splitlines()
                if line.strip()
            ),
        )
        _snapshot = snap
        return snap


def org_allow_list() -> tuple[str, ...]:
    return current().egress_allowed
