"""SharedRedisCache: every cache instance of a process (one per request under ASGI) shares one
Redis client, against the real Redis server."""

from __future__ import annotations

import uuid

import pytest

from apps.core.runtime.cache import SharedRedisCache
from tests.conftest import REDIS_TEST_URL

pytestmark = pytest.mark.redis


def test_instances_share_one_client_and_see_each_others_keys() -> None:
    params = {"KEY_PREFIX": f"enclave-test-{uuid.uuid4().hex[:8]}"}
    first = SharedRedisCache(REDIS_TEST_URL, params)
    second = SharedRedisCache(REDIS_TEST_URL, params)  # the next request's instance

    first.set("throttle", 3, timeout=10)

    assert second.get("throttle") == 3
    assert first._cache is second._cache  # type: ignore[attr-defined]
    other = SharedRedisCache(REDIS_TEST_URL.rsplit("/", 1)[0] + "/14", params)
    assert other._cache is not first._cache  # type: ignore[attr-defined]
    first.delete("throttle")


def test_one_redis_client_per_pool_serves_every_call() -> None:
    cache = SharedRedisCache(REDIS_TEST_URL, {"KEY_PREFIX": f"enclave-test-{uuid.uuid4().hex[:8]}"})
    client = cache._cache  # type: ignore[attr-defined]

    cache.set("k", 1, timeout=10)
    first = client.get_client(write=True)
    assert cache.get("k") == 1

    assert client.get_client(write=True) is first
    assert client.get_client() is first  # one server: reads use the same pool
    cache.delete("k")
