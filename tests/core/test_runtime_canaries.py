"""Canaries for apps/core/runtime: what its modules rely on in Django, psycopg, Channels,
asgiref and uvicorn beyond their documented API.

Each test names one thing a runtime module replaces or reads, and fails with the module to
revisit when an upgrade changes it. The modules' own tests check what they do; these check
that the ground they stand on is still there, so that an upgrade fails here, loudly, rather
than running silently slower (a tuning that no longer applies) or wrongly.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest


def relied_on(condition: object, module: str, what: str) -> None:
    assert condition, (
        f"apps/core/runtime/{module}.py relies on {what}, which this version no longer "
        "offers: revisit the module (and rerun its benchmark) before taking the upgrade"
    )


def source_of(obj: Any) -> str:
    return inspect.getsource(obj)


# --- dbpool: psycopg_pool's health check, as Django passes it ---------------------------------


def test_django_passes_the_pools_class_check_as_the_check() -> None:
    from django.db.backends.postgresql.base import DatabaseWrapper

    relied_on(
        "check=ConnectionPool.check_connection" in source_of(DatabaseWrapper),
        "dbpool",
        "Django creating its pool with check=ConnectionPool.check_connection",
    )


def test_the_pools_check_takes_a_connection_and_sends_a_round_trip() -> None:
    from apps.core.runtime import dbpool

    original = dbpool._round_trip_check
    relied_on(
        list(inspect.signature(original).parameters) == ["conn"],
        "dbpool",
        "psycopg_pool's ConnectionPool.check_connection(conn)",
    )


def test_the_pool_reconnects_through_an_attempt_with_a_growing_delay() -> None:
    from psycopg_pool import pool
    from psycopg_pool.base import AttemptWithBackoff

    from apps.core.runtime import dbpool

    relied_on(
        "AttemptWithBackoff(" in source_of(pool.ConnectionPool._add_connection)
        and "attempt.update_delay(" in source_of(pool.ConnectionPool._add_connection)
        and "attempt.delay" in source_of(pool.ConnectionPool._add_connection),
        "dbpool",
        "ConnectionPool._add_connection scheduling retries after AttemptWithBackoff.delay",
    )
    relied_on(
        isinstance(getattr(AttemptWithBackoff, "INITIAL_DELAY", None), float)
        and list(inspect.signature(dbpool._update_delay).parameters) == ["self", "now"]
        and "self.delay" in source_of(dbpool._update_delay),
        "dbpool",
        "AttemptWithBackoff.INITIAL_DELAY and update_delay(self, now)",
    )


# --- pgtypes: the adapters template Django builds each connection from -----------------------


def test_django_builds_connections_from_a_cached_adapters_template() -> None:
    from django.db.backends.postgresql import psycopg_any

    template = getattr(psycopg_any, "get_adapters_template", None)
    relied_on(template is not None, "pgtypes", "psycopg_any.get_adapters_template")
    relied_on(
        list(inspect.signature(template).parameters) == ["use_tz", "timezone"]
        and hasattr(template, "cache_info"),
        "pgtypes",
        "get_adapters_template(use_tz, timezone) being cached (one template per process)",
    )


def test_django_compares_the_loaders_timezone_on_each_cursor() -> None:
    from django.db.backends.postgresql.base import DatabaseWrapper
    from django.db.backends.postgresql.psycopg_any import BaseTzLoader

    relied_on(
        "tzloader.timezone" in source_of(DatabaseWrapper.create_cursor),
        "pgtypes",
        "DatabaseWrapper.create_cursor re-registering its loader unless `timezone` matches",
    )
    relied_on(hasattr(BaseTzLoader, "timezone"), "pgtypes", "BaseTzLoader.timezone")


# --- dbthread: Channels' database calls and Django's health-check flag -----------------------


def test_channels_database_calls_close_old_connections_around_each_call() -> None:
    from asgiref.sync import SyncToAsync
    from channels.db import DatabaseSyncToAsync

    relied_on(
        issubclass(DatabaseSyncToAsync, SyncToAsync)
        and "close_old_connections" in source_of(DatabaseSyncToAsync.thread_handler),
        "dbthread",
        "channels.db.DatabaseSyncToAsync being SyncToAsync plus close_old_connections",
    )
    relied_on("thread_handler" in vars(SyncToAsync), "dbthread", "SyncToAsync.thread_handler")


def test_django_connections_keep_a_health_check_done_flag() -> None:
    from django.db import connections
    from django.db.backends.base.base import BaseDatabaseWrapper

    relied_on(
        "health_check_done" in source_of(BaseDatabaseWrapper)
        and hasattr(BaseDatabaseWrapper, "close_if_unusable_or_obsolete"),
        "dbthread",
        "BaseDatabaseWrapper.health_check_done and close_if_unusable_or_obsolete()",
    )
    relied_on(
        "initialized_only" in inspect.signature(connections.all).parameters,
        "dbthread",
        "connections.all(initialized_only=True)",
    )


# --- cache: Django's Redis cache internals ---------------------------------------------------


def test_djangos_redis_cache_builds_its_client_from_servers_and_options() -> None:
    from django.core.cache.backends.redis import RedisCache, RedisCacheClient

    relied_on(
        "_cache" in vars(RedisCache)
        and "self._servers" in source_of(RedisCache)
        and "self._options" in source_of(RedisCache),
        "cache",
        "RedisCache._cache built from self._servers and self._options",
    )
    for name in ("_get_connection_pool", "get_client"):
        relied_on(hasattr(RedisCacheClient, name), "cache", f"RedisCacheClient.{name}")
    relied_on(
        "self._client = " in source_of(RedisCacheClient.__init__),
        "cache",
        "RedisCacheClient._client (the redis.Redis class it wraps a pool in)",
    )
    relied_on(
        "write" in inspect.signature(RedisCacheClient.get_client).parameters,
        "cache",
        "RedisCacheClient.get_client(key, *, write)",
    )


# --- asgi_handler: the steps of Django's ASGIHandler it runs in one thread ------------------


def test_djangos_asgi_handler_still_takes_the_steps_we_replay() -> None:
    from asgiref.sync import ThreadSensitiveContext
    from django.core.handlers import asgi

    handle = source_of(asgi.ASGIHandler.handle)
    for step in ("read_body", "request_started", "create_request", "send_response"):
        relied_on(step in handle, "asgi_handler", f"ASGIHandler.handle calling {step}")
    relied_on(hasattr(asgi, "get_script_prefix"), "asgi_handler", "asgi.get_script_prefix")
    relied_on(
        "executor" in inspect.signature(ThreadSensitiveContext).parameters,
        "asgi_handler",
        "ThreadSensitiveContext(executor=...)",
    )


# --- wsframes: uvicorn's websockets-sansio protocol -------------------------------------------


def test_uvicorns_sansio_protocol_exposes_the_state_direct_frames_read() -> None:
    impl = pytest.importorskip("uvicorn.protocols.websockets.websockets_sansio_impl")
    from websockets.protocol import State

    source = source_of(impl.WebSocketsSansIOProtocol)
    for attribute in ("handshake_complete", "close_sent", "disconnected", "conn", "transport"):
        relied_on(
            f"self.{attribute} " in source or f"self.{attribute}=" in source,
            "wsframes",
            f"WebSocketsSansIOProtocol.{attribute}",
        )
    relied_on("async def send" in source, "wsframes", "the ASGI `send` being the protocol's method")
    relied_on(hasattr(State, "OPEN"), "wsframes", "websockets.protocol.State.OPEN")


# --- sqlrows: Django's cursor preparation and converters -------------------------------------


def test_django_prepares_cursors_and_offers_converters() -> None:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models.sql.compiler import SQLCompiler

    relied_on(
        hasattr(BaseDatabaseWrapper, "_prepare_cursor"),
        "sqlrows",
        "BaseDatabaseWrapper._prepare_cursor(cursor)",
    )
    relied_on(hasattr(SQLCompiler, "get_converters"), "sqlrows", "SQLCompiler.get_converters")
