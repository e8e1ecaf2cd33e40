"""apps.core.runtime.dbpool: the pool reconnects to a restarted PostgreSQL within a second
(the chaos test, tests/load/test_chaos.py, checks it against a real cluster's restart)."""

from __future__ import annotations

import pytest
from psycopg_pool.base import AttemptWithBackoff

from apps.core.runtime import dbpool

# The tuning is installed where PostgreSQL is the database (config/asgi.py, and the suite's
# pytest_configure), so these run in the PostgreSQL pass.
pytestmark = pytest.mark.postgres


def test_reconnect_attempts_come_quickly_then_once_a_second() -> None:
    attempt = AttemptWithBackoff(timeout=300)
    delays = []
    for second in range(10):
        attempt.update_delay(float(second))
        delays.append(attempt.delay)
    assert 0.2 <= delays[0] <= 0.3
    assert delays[1] > delays[0]
    assert max(delays) == dbpool.RECONNECT_MAX_DELAY
    assert delays[-3:] == [dbpool.RECONNECT_MAX_DELAY] * 3


def test_attempts_still_give_up_at_the_pools_reconnect_timeout() -> None:
    attempt = AttemptWithBackoff(timeout=2.5)
    attempt.update_delay(0.0)
    for now in (0.5, 1.5, 2.2):
        attempt.update_delay(now)
    assert attempt.delay <= 0.3 + 1e-9  # only what is left before giving up
    assert attempt.time_to_give_up(2.5)
