"""apps.core.runtime.dbpool: the pool's health check, at most once a second per connection."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.db import connection

from apps.core.runtime import dbpool

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(dbpool, "_now", lambda: now[0])
    return now


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The connections that got psycopg_pool's own check (an empty query)."""
    checked: list[Any] = []
    original = dbpool._round_trip_check

    def counting(conn: Any) -> None:
        checked.append(conn)
        original(conn)

    monkeypatch.setattr(dbpool, "_round_trip_check", counting)
    return checked


@pytest.fixture
def pg_connection() -> Iterator[Any]:
    params = connection.get_connection_params()
    params.pop("context", None)
    conn = psycopg.connect(**params, autocommit=True)
    yield conn
    conn.close()


def test_a_connection_is_checked_at_most_once_a_second(
    pg_connection: Any, clock: list[float], round_trips: list[Any]
) -> None:
    dbpool.check_connection(pg_connection)
    clock[0] += 0.5
    dbpool.check_connection(pg_connection)
    assert round_trips == [pg_connection]

    clock[0] += dbpool.CHECK_EVERY
    dbpool.check_connection(pg_connection)
    assert round_trips == [pg_connection, pg_connection]


def test_a_connection_the_server_dropped_fails_its_next_check(
    pg_connection: Any, clock: list[float], round_trips: list[Any]
) -> None:
    dbpool.check_connection(pg_connection)
    with connection.cursor() as cursor:  # the server ends that session
        cursor.execute("SELECT pg_terminate_backend(%s)", [pg_connection.info.backend_pid])

    clock[0] += dbpool.CHECK_EVERY
    with pytest.raises(psycopg.OperationalError):
        dbpool.check_connection(pg_connection)


def test_a_closed_connection_is_checked_at_once(
    pg_connection: Any, clock: list[float], round_trips: list[Any]
) -> None:
    dbpool.check_connection(pg_connection)
    pg_connection.close()

    with pytest.raises(psycopg.OperationalError):
        dbpool.check_connection(pg_connection)
    assert len(round_trips) == 2


@pytest.mark.django_db(transaction=True)
def test_djangos_pool_checks_with_it(clock: list[float], round_trips: list[Any]) -> None:
    if not connection.settings_dict["OPTIONS"].get("pool"):
        pytest.skip("runs where the settings configure a connection pool")
    clock[0] = time.monotonic() + 10_000  # after every real check so far
    for _ in range(20):  # twenty checkouts from the pool within a second
        connection.close()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    # One round trip per pooled connection (the pool hands them out in turn), not per checkout.
    distinct = {id(conn) for conn in round_trips}
    assert 1 <= len(distinct) == len(round_trips) < 20
