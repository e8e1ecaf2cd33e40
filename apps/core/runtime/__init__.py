"""The app server's runtime tuning: how Enclave carries its peak on few cores.

Everything here changes how fast the server runs, never what it answers; each module's
docstring names the measurement behind it and docs/architecture/ the invariant it keeps.

| module | what it tunes | used by |
|---|---|---|
| `asgi_handler` | HTTP: Django's middleware and view in one thread crossing | config/asgi.py |
| `wsframes` | WebSocket fan-out frames written straight to uvicorn's transport | config/asgi.py |
| `realtime` | the real-time hub: one Redis pub/sub channel, topics per socket | the consumer |
| `dbthread` | socket database calls: Django's health check at most once a second | the consumer |
| `dbpool` | psycopg's pool check at most once a second per connection | install_for_server |
| `pgtypes` | `timestamptz` parsed by psycopg's C loader | install_for_server |
| `gctune` | the collector of a long-lived server process | install_for_server |
| `cache` | one Redis client per process for Django's cache | `CACHES` |
| `sqlrows` | prepared statements and rows without model instances | the selectors |

`install_for_server()` is called once, at the end of `config/asgi.py`: only the app server
processes (uvicorn, daphne) are tuned, not Celery workers or `manage.py` commands, which run
with Django's and CPython's defaults. Several modules replace or rely on private parts of
Django, psycopg, redis-py and uvicorn: `tests/core/test_runtime_canaries.py` fails loudly
when an upgrade changes what they rely on.
"""

from __future__ import annotations


def install_database_tuning() -> None:
    """The pool check and the timestamp loader, on PostgreSQL only. Before the first
    connection: Django creates its pool, and builds each connection's adapters, on first use."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    from apps.core.runtime import dbpool, pgtypes

    dbpool.install()
    pgtypes.install()


def install_for_server() -> None:
    """Tune this process as a long-lived app server; the application must be loaded (the
    collector freezes what exists now)."""
    from apps.core.runtime import gctune

    install_database_tuning()
    gctune.tune_for_server()
