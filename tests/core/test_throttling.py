"""The REST API's per-user rate limit (apps.core.throttling): a sliding window estimated from
two fixed windows, on the in-process cache and on the real Redis."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import caches
from django.test import override_settings
from django.urls import reverse
from rest_framework.test import APIRequestFactory

from apps.accounts.models import User
from apps.core.throttling import UserRateThrottle
from tests.conftest import REDIS_TEST_URL


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FivePerMinute(UserRateThrottle):
    rate = "5/min"


def make_asker(user_id: int, clock: Clock) -> Callable[[], tuple[bool, UserRateThrottle]]:
    request = APIRequestFactory().get("/api/v1/x/")
    request.user = type("U", (), {"pk": user_id, "is_authenticated": True})()

    def ask() -> tuple[bool, UserRateThrottle]:
        throttle = FivePerMinute()
        throttle.timer = clock  # type: ignore[method-assign]
        return throttle.allow_request(request, None), throttle  # type: ignore[arg-type]

    return ask


def run_the_windows(user_id: int) -> None:
    clock = Clock(6_000_000.0)  # the start of a window (a multiple of 60)
    ask = make_asker(user_id, clock)

    assert [ask()[0] for _ in range(5)] == [True] * 5
    allowed, refused = ask()
    assert not allowed
    # Five at the start of a window: in the next one the estimate must fade to four, 12 s in.
    assert refused.wait() == pytest.approx(72.0, abs=0.01)
    clock.now += 30
    assert not ask()[0]  # refusals are not counted, but the window is still full

    # Halfway through the next window, half of the previous one's five still counts (2.5):
    # two more fit (2.5 + 2 = 4.5 ≤ 5), a third does not (5.5).
    clock.now += 60
    assert [ask()[0] for _ in range(3)] == [True, True, False]
    allowed, refused = ask()
    # 5 · (1 - t/60) + 2 + 1 ≤ 5 once t ≥ 36 s, 6 s from now.
    assert refused.wait() == pytest.approx(6.0, abs=0.01)
    clock.now += 6.5
    assert ask()[0]

    # Another user has a budget of their own.
    assert make_asker(user_id + 1, clock)()[0]


@pytest.fixture
def local_cache() -> Iterator[None]:
    with override_settings(
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    ):
        caches["default"].clear()
        yield


def test_sliding_window_on_the_in_process_cache(local_cache: None) -> None:
    run_the_windows(user_id=1)


@pytest.mark.redis
def test_sliding_window_on_redis_in_one_script() -> None:
    prefix = f"enclave-test-{uuid.uuid4().hex[:8]}"
    backend = {"BACKEND": "apps.core.runtime.cache.SharedRedisCache", "LOCATION": REDIS_TEST_URL}
    with override_settings(CACHES={"default": {**backend, "KEY_PREFIX": prefix}}):
        cache: Any = caches["default"]
        run_the_windows(user_id=1)
        client = cache._cache.get_client(write=True)
        keys = client.keys(f"{prefix}:*")
        assert keys  # the counters live in Redis, under the cache's prefix
        assert all(0 < client.ttl(key) <= 121 for key in keys)
        client.delete(*keys)


@pytest.mark.django_db
def test_an_api_user_over_the_rate_gets_429_with_retry_after(
    user: User, empty_cache: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rest_framework.test import APIClient

    monkeypatch.setattr(UserRateThrottle, "rate", "3/min", raising=False)
    client = APIClient()
    client.force_authenticate(user)
    url = reverse("chat_api:channels")
    assert [client.get(url).status_code for _ in range(3)] == [200, 200, 200]

    response = client.get(url)

    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"
    # At most the rest of this window and most of the next (the burst fades out over it).
    assert 0 < int(response["Retry-After"]) <= 121
