"""`SharedRedisCache`: Django's Redis cache with one client (and pool) per process.

Django keeps cache backends in per-request storage; under ASGI every request then builds a
new redis-py client and connection pool, so each throttled API call opened a Redis
connection (1.7 ms of server CPU per request, measured by tests/load/bench_reads.py). The
client is thread-safe, so one per process and server set is shared by every request.
"""

from __future__ import annotations

import threading
from typing import Any

from django.core.cache.backends.redis import RedisCache
from django.utils.functional import cached_property

_clients: dict[tuple[Any, ...], Any] = {}
_lock = threading.Lock()


class SharedRedisCache(RedisCache):
    @cached_property
    def _cache(self) -> Any:
        cache: Any = self  # RedisCache's private attributes are not in django-stubs
        key = (tuple(cache._servers), repr(sorted(cache._options.items())))
        with _lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = cache._class(cache._servers, **cache._options)
            return client
