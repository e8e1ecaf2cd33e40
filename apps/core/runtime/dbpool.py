"""The PostgreSQL pool: its health check at most once a second per connection, and a
reconnect that follows a restarted server within a second.

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

**Reconnecting.** When PostgreSQL goes away (a restart, a fail-over), psycopg_pool refills the
pool with attempts whose delay doubles from 1 s without bound (1, 2, 4, 8 s...): a server that
was down 5 s got its connections back 7–15 s after it stopped, and every request waited for one
(up to the pool's timeout) all that while (the chaos run, tests/load/chaos/, measured 9.5 s to
recover from a 5-s stop). `install()` starts the delay at `RECONNECT_FIRST_DELAY` and caps it at
`RECONNECT_MAX_DELAY`: one attempt a second per missing connection while the server is away
(a refused connection costs the server nothing), and connections within a second of its return.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any

from psycopg import pq
from psycopg_pool import ConnectionPool
from psycopg_pool.base import AttemptWithBackoff

# One policy for both kinds of connection: pooled here, persistent in apps.core.runtime.dbthread.
from apps.core.runtime.dbthread import HEALTH_CHECK_EVERY as CHECK_EVERY

_now = time.monotonic  # tests replace this clock, not the process-wide one
_checked_at: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
_lock = threading.Lock()
_round_trip_check = ConnectionPool.check_connection
_update_delay = AttemptWithBackoff.update_delay
RECONNECT_FIRST_DELAY = 0.25
RECONNECT_MAX_DELAY = 1.0


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


def update_delay(attempt: AttemptWithBackoff, now: float) -> None:
    """psycopg_pool's next reconnect delay, at most RECONNECT_MAX_DELAY."""
    _update_delay(attempt, now)
    attempt.delay = min(attempt.delay, RECONNECT_MAX_DELAY)


def install() -> None:
    """Use `check_connection` for the pools created from now on (Django passes
    `ConnectionPool.check_connection` as the `check` of the pool it creates when
    `CONN_HEALTH_CHECKS` is on, and takes no other check from the settings), and the capped
    reconnect delay."""
    ConnectionPool.check_connection = staticmethod(check_connection)  # type: ignore[method-assign]
    AttemptWithBackoff.INITIAL_DELAY = RECONNECT_FIRST_DELAY
    AttemptWithBackoff.update_delay = update_delay  # type: ignore[method-assign,assignment]
