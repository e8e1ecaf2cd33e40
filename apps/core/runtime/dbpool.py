"""The PostgreSQL pool's health check, at most once a second per connection.

Django's pool (`OPTIONS["pool"]`) with `CONN_HEALTH_CHECKS` checks a connection every time it
leaves the pool: psycopg_pool's `ConnectionPool.check_connection` sends an empty query and
waits for the answer. A socket server takes a connection for every operation (each send batch,
each thread hop of a handshake) and a REST request for every request, so that was one extra
round trip each: 10 % of the send writer's samples at the peak (docs/performance.md §5.17).

`install()` (at start-up, before Django creates its pool on first use) makes that check skip
the round trip for a connection that passed one less than `CHECK_EVERY` seconds ago and whose
socket libpq still reports healthy. One the server dropped in between fails the operation that
gets it (an error the client sees and retries; sends are idempotent), and the pool discards it;
the next checkout checks again. It is the trade `apps.core.runtime.dbthread` makes for Django's own
check of a persistent connection.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any

from psycopg import pq
from psycopg_pool import ConnectionPool

# One policy for both kinds of connection: pooled here, persistent in apps.core.runtime.dbthread.
from apps.core.runtime.dbthread import HEALTH_CHECK_EVERY as CHECK_EVERY

_now = time.monotonic  # tests replace this clock, not the process-wide one
_checked_at: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
_lock = threading.Lock()
_round_trip_check = ConnectionPool.check_connection


def check_connection(conn: Any) -> None:
    """Raise if `conn` is unusable; a round trip at most once every CHECK_EVERY seconds."""
    now = _now()
    with _lock:
        last = _checked_at.get(conn)
    if last is not None and now - last < CHECK_EVERY and conn.pgconn.status == pq.ConnStatus.OK:
        return
    _round_trip_check(conn)
    with _lock:
        _checked_at[conn] = now


def install() -> None:
    """Use `check_connection` for the pools created from now on. Django passes
    `ConnectionPool.check_connection` as the `check` of the pool it creates when
    `CONN_HEALTH_CHECKS` is on, and takes no other check from the settings."""
    ConnectionPool.check_connection = staticmethod(check_connection)  # type: ignore[method-assign]
