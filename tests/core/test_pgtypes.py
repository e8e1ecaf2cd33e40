"""apps.core.runtime.pgtypes: timestamps parsed by psycopg's C loader, the same values as
Django's."""

from __future__ import annotations

import datetime
from collections.abc import Callable

import pytest
from django.db import connection
from django.db.backends.postgresql.psycopg_any import BaseTzLoader
from psycopg import pq

from apps.accounts.models import User
from apps.core.runtime.pgtypes import TIMESTAMPTZ_OID, UtcTimestamptzLoader

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

SAMPLES = (
    "'2026-01-01 10:00:00.123456+03'",
    "'0001-01-01 00:00:00+00'",
    "'9999-12-31 23:59:59.999999+00'",
    "'1969-07-20 20:17:40.5-05:30'",
    "'2026-03-29 01:30:00 Europe/Berlin'",
    "NULL",
)


def _select_samples() -> tuple[object, ...]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(f"{v}::timestamptz" for v in SAMPLES))
        row = cursor.fetchone()
    assert row is not None
    return tuple(row)


def test_django_connections_use_the_c_loader() -> None:
    connection.ensure_connection()
    loader = connection.connection.adapters.get_loader(TIMESTAMPTZ_OID, pq.Format.TEXT)
    assert loader is UtcTimestamptzLoader
    with connection.cursor() as cursor:
        instance = cursor.cursor.adapters.get_loader(TIMESTAMPTZ_OID, pq.Format.TEXT)(
            TIMESTAMPTZ_OID, cursor.cursor
        )
        # The instance's load is the C loader's own method (psycopg-binary is a requirement).
        assert type(instance.load.__self__).__module__.startswith("psycopg_binary")
        assert isinstance(
            cursor.cursor.adapters.get_loader(TIMESTAMPTZ_OID, pq.Format.TEXT)(
                TIMESTAMPTZ_OID, cursor.cursor
            ),
            UtcTimestamptzLoader,
        )


def test_values_equal_djangos_own_loader() -> None:
    ours = _select_samples()
    connection.ensure_connection()
    connection.connection.adapters.register_loader(
        TIMESTAMPTZ_OID, type("DjangoUtc", (BaseTzLoader,), {"timezone": datetime.UTC})
    )
    try:
        djangos = _select_samples()
    finally:
        connection.connection.adapters.register_loader(TIMESTAMPTZ_OID, UtcTimestamptzLoader)
    assert ours == djangos
    assert ours[0] == datetime.datetime(2026, 1, 1, 7, 0, 0, 123456, tzinfo=datetime.UTC)
    assert ours[-1] is None
    for value, other in zip(ours[:-1], djangos[:-1], strict=True):
        assert isinstance(value, datetime.datetime)
        assert isinstance(other, datetime.datetime)
        assert value.tzinfo is datetime.UTC is other.tzinfo


def test_orm_round_trip_keeps_the_instant(make_user: Callable[..., User]) -> None:
    moment = datetime.datetime(2026, 11, 28, 5, 6, 7, 891011, tzinfo=datetime.UTC)
    user = make_user(username="clock")
    User.objects.filter(pk=user.pk).update(last_login=moment)
    user.refresh_from_db()
    assert user.last_login == moment
    assert user.last_login is not None
    assert user.last_login.tzinfo is datetime.UTC
