"""`SharedRedisCache`: Django's Redis cache with one client (and pool) per process.

Django keeps cache backends in per-request storage; under ASGI every request then builds a
new redis-py client and connection pool, so each throttled API call opened a Redis
connection (1.7 ms of server CPU per request, measured by tests/load/bench_reads.py). The
client is thread-safe, so one per process and server set is shared by every request.
Django's client also built a new `redis.Redis` around its pool on every cache call (about a
fifth of a cached history request's CPU); `_ReusingClient` builds one per pool.
"""

from __future__ import annotations

import threading
from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from django.utils.functional import cached_property

_clients: dict[tuple[Any, ...], Any] = {}
_lock = threading.Lock()


class _ReusingClient(RedisCacheClient):
    """Django's client, keeping one `redis.Redis` per connection pool instead of one a call."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._redis_by_pool: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
        client = self._redis_by_pool.get(id(pool))
        if client is None:
            client = self._redis_by_pool[id(pool)] = self._client(connection_pool=pool)  # type: ignore[attr-defined]
        return client


class SharedRedisCache(RedisCache):
    @cached_property
    def _cache(self) -> Any:
        cache: Any = self  # RedisCache's private attributes are not in django-stubs
        key = (tuple(cache._servers), repr(sorted(cache._options.items())))
        with _lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = _ReusingClient(cache._servers, **cache._options)
            return client
