"""`socket_db_call`: `database_sync_to_async` for the WebSocket hot paths.

Channels' `database_sync_to_async` runs `close_old_connections()` around every call, which
clears Django's "health check done" flag, so with `CONN_HEALTH_CHECKS` the next query first
sends a `SELECT 1`: one extra PostgreSQL round trip per operation, a tenth of the database
time of a busy socket server. Here the same clean-up runs (a connection that saw an error or
outlived `CONN_MAX_AGE` is still closed), but the `SELECT 1` happens at most once a second per
connection. A connection that dies in between fails one call, which is marked as an error, and
the next call checks it: sends are idempotent, the client retries.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from asgiref.sync import SyncToAsync
from django.db import connections

HEALTH_CHECK_EVERY = 1.0  # seconds
_now = time.monotonic  # tests replace this clock, not the process-wide one
_checked = threading.local()


def _recycle_connections() -> None:
    now = _now()
    last: dict[str, float] = getattr(_checked, "at", None) or {}
    _checked.at = last
    for conn in connections.all(initialized_only=True):
        conn.close_if_unusable_or_obsolete()
        if conn.connection is None:
            continue
        if now - last.get(conn.alias, 0.0) < HEALTH_CHECK_EVERY:
            conn.health_check_done = True  # type: ignore[attr-defined]  # checked < 1 s ago
        else:
            last[conn.alias] = now  # this call's first query checks it


class SocketDatabaseSyncToAsync(SyncToAsync):
    def thread_handler(self, loop: Any, *args: Any, **kwargs: Any) -> Any:
        _recycle_connections()
        try:
            return super().thread_handler(loop, *args, **kwargs)
        finally:
            _recycle_connections()


socket_db_call = SocketDatabaseSyncToAsync
