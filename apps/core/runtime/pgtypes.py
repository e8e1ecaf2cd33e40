"""Timestamps from PostgreSQL parsed by psycopg's C loader, not by Python.

Django registers its own `timestamptz` loader on every psycopg 3 connection
(`psycopg_any.BaseTzLoader`): a subclass of psycopg's *pure-Python* loader that parses the
ISO text in Python and then replaces the result's tzinfo with the connection's time zone.
That bypasses the C loader psycopg-binary ships: 3.9 µs a value against 0.5 (measured with
20,000 rows). A message row carries a few timestamps, a token look-up several, a channel list
dozens, so on the REST read paths it was up to 9 % of a request's samples (search, py-spy).

When Django's connection time zone is UTC (`USE_TZ` with no database `TIME_ZONE`, our
settings), Django also sets each session's `TimeZone` to UTC, and psycopg's C loader already
returns the same datetimes with `tzinfo=datetime.timezone.utc`: Django's replacement changes
nothing. `install()` (at start-up, before the first connection) then registers, in the adapter
template Django builds every connection from, a loader whose `load` is the C loader's. It
keeps the `timezone` attribute Django compares on each new cursor, so Django never re-registers
its own. With any other time zone nothing changes.
"""

from __future__ import annotations

import datetime
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection
from psycopg import abc, adapt, pq
from psycopg.postgres import types

TIMESTAMPTZ_OID = types["timestamptz"].oid

# psycopg-binary's loader (a final C type: it cannot be subclassed); the pure-Python one when
# psycopg runs without its C extension, which is then no slower than Django's.
_C_LOADER: Any = psycopg.adapters.get_loader(TIMESTAMPTZ_OID, pq.Format.TEXT)


class UtcTimestamptzLoader(adapt.Loader):
    """`timestamptz` text to an aware datetime in UTC, parsed by psycopg's own loader."""

    timezone = datetime.UTC  # what Django's create_cursor compares

    def __init__(self, oid: int, context: abc.AdaptContext | None = None) -> None:
        super().__init__(oid, context)
        # The bound C method itself, so a value costs no Python frame of ours.
        self.load = _C_LOADER(oid, context).load  # type: ignore[method-assign]

    def load(self, data: Any) -> datetime.datetime:  # replaced on every instance
        raise NotImplementedError


def install() -> bool:
    """Use UtcTimestamptzLoader on Django's PostgreSQL connections if their zone is UTC."""
    if connection.vendor != "postgresql" or connection.timezone != datetime.UTC:
        return False
    from django.db.backends.postgresql.psycopg_any import get_adapters_template

    # Django passes this (cached) template to every connection it opens, the pool's included.
    get_adapters_template(settings.USE_TZ, connection.timezone).register_loader(
        TIMESTAMPTZ_OID, UtcTimestamptzLoader
    )
    return True
