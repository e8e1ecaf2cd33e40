"""socket_db_call: the clean-up of database_sync_to_async, a health check once a second."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.db import connection, connections

from apps.core.runtime import dbthread
from apps.core.runtime.dbthread import socket_db_call

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        bool(connections["default"].settings_dict["OPTIONS"].get("pool")),
        reason="with a connection pool each call gets a pooled connection: no check to save",
    ),
]


# The connection object of the worker thread (connections are per thread).
_used: list[Any] = []


def _query() -> None:
    connection.health_check_enabled = True
    _used[:] = [connections["default"]]
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [time.monotonic() + 10_000]  # after any real check this thread recorded
    monkeypatch.setattr(dbthread, "_now", lambda: now[0])
    return now


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every health check (is_usable) of the connection the queries use (other threads of the
    test process may check theirs meanwhile)."""
    calls: list[int] = []
    wrapper = type(connections["default"])
    original = wrapper.is_usable

    def counted(self: Any) -> bool:
        if _used and self is _used[0]:
            calls.append(1)
        return original(self)

    monkeypatch.setattr(wrapper, "is_usable", counted)
    return calls


async def test_the_health_check_runs_once_a_second_not_once_a_call(
    clock: list[float], checks: list[int]
) -> None:
    query = socket_db_call(_query)
    await query()  # opens the connection
    clock[0] += 1.5
    await query()
    checked = len(checks)

    for _ in range(5):
        await query()
    within_that_second = len(checks) - checked
    clock[0] += 1.5
    await query()
    await query()

    assert checked >= 1
    assert within_that_second == 0  # five calls, no SELECT 1
    assert len(checks) == checked + 1  # the next second: one check for two calls


async def test_a_connection_that_saw_an_error_is_checked_at_once(
    clock: list[float], checks: list[int]
) -> None:
    query = socket_db_call(_query)
    await query()
    await query()
    before = len(checks)

    def fail() -> None:
        connection.errors_occurred = True
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError):
        await socket_db_call(fail)()

    assert len(checks) == before + 1  # within the same second, because an error occurred
    assert await socket_db_call(lambda: connection.errors_occurred)() is False
