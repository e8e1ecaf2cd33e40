"""Both presence stores: several tabs, expiry, and the per-process keep-alive."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from apps.chat import presence
from tests.conftest import REDIS_TEST_URL


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.redis)])
def store(request: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[presence.PresenceStore]:
    if request.param == "local":
        yield presence.LocalPresenceStore(ttl=0.3)
        return
    tag = f"enclave-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(
        presence.RedisPresenceStore,
        "_key",
        staticmethod(lambda user_id: f"{tag}:presence:{user_id}"),
    )
    redis_store = presence.RedisPresenceStore(REDIS_TEST_URL, ttl=0.3)
    yield redis_store
    for key in redis_store.client.scan_iter(f"{tag}:*"):
        redis_store.client.delete(key)


def test_online_while_any_tab_is_online(store: presence.PresenceStore) -> None:
    assert store.set(1, "a", presence.ONLINE) == (presence.OFFLINE, presence.ONLINE)
    assert store.set(1, "b", presence.AWAY) == (presence.ONLINE, presence.ONLINE)
    assert store.remove(1, "a") == (presence.ONLINE, presence.AWAY)
    assert store.status_of([1, 2]) == {1: presence.AWAY, 2: presence.OFFLINE}


def test_entries_expire_unless_kept_alive(store: presence.PresenceStore) -> None:
    store.set(1, "kept", presence.AWAY)
    store.set(2, "left", presence.ONLINE)

    for _ in range(4):
        time.sleep(0.1)
        store.keep_alive([(1, "kept", presence.AWAY)])

    assert store.status_of([1, 2]) == {1: presence.AWAY, 2: presence.OFFLINE}


def test_a_keep_alive_taken_before_a_tab_closed_does_not_bring_it_back(
    store: presence.PresenceStore,
) -> None:
    store.set(1, "closing", presence.ONLINE)
    store.set(1, "staying", presence.AWAY)
    snapshot = [(1, "closing", presence.ONLINE), (1, "staying", presence.AWAY)]

    store.remove(1, "closing")  # the tab closes while the keep-alive is on its way
    store.keep_alive(snapshot)

    assert store.user_status(1) == presence.AWAY
    store.remove(1, "staying")
    assert store.user_status(1) == presence.OFFLINE
