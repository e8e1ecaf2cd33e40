"""Suite-wide fixtures and the real-service gate.

Tests marked `postgres` or `redis` need those servers. Locally they skip with a reason when the
server is absent; with ENCLAVE_REQUIRE_SERVICES=1 (CI) a missing server fails them instead, so
a green CI run means they ran.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from apps.accounts.models import Role, User
from apps.chat.models import Channel, ChannelKind, ChannelRole
from tests.factories import ChannelFactory, MembershipFactory, UserFactory

REQUIRE_SERVICES = os.environ.get("ENCLAVE_REQUIRE_SERVICES") == "1"
REDIS_TEST_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def redis_available() -> bool:
    from urllib.parse import urlparse

    parsed = urlparse(REDIS_TEST_URL)
    return _reachable(parsed.hostname or "127.0.0.1", parsed.port or 6379)


def _service_problem(marker: str) -> str | None:
    if marker == "postgres" and connection.vendor != "postgresql":
        return "needs PostgreSQL: run with DATABASE_URL=postgres://... (make test does)"
    if marker == "redis" and not redis_available():
        return f"needs Redis at {REDIS_TEST_URL}"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in ("postgres", "redis"):
        if item.get_closest_marker(marker) is None:
            continue
        problem = _service_problem(marker)
        if problem is None:
            continue
        if REQUIRE_SERVICES:
            pytest.fail(f"[{marker}] {problem} (ENCLAVE_REQUIRE_SERVICES=1: skipping not allowed)")
        pytest.skip(f"[{marker}] {problem}")


@pytest.fixture(autouse=True)
def _isolated_presence() -> Iterator[None]:
    from apps.chat.presence import RedisPresenceStore, presence_store

    presence_store.cache_clear()
    store = presence_store()
    if isinstance(store, RedisPresenceStore):
        # Test databases reuse user ids; start each test with no one online.
        keys = list(store.client.scan_iter("enclave:presence:*"))
        if keys:
            store.client.delete(*keys)
    yield
    presence_store.cache_clear()


@pytest.fixture
def make_user(db: Any) -> Callable[..., User]:
    def make(role: str = Role.MEMBER, **kwargs: Any) -> User:
        return UserFactory(role=role, **kwargs)

    return make


@pytest.fixture
def user(make_user: Callable[..., User]) -> User:
    return make_user()


@pytest.fixture
def make_channel(db: Any) -> Callable[..., Channel]:
    """A channel with the given members; the first `admins` become channel admins."""

    def make(
        kind: str = ChannelKind.PUBLIC,
        members: tuple[User, ...] = (),
        admins: tuple[User, ...] = (),
        **kwargs: Any,
    ) -> Channel:
        channel = ChannelFactory(kind=kind, **kwargs)
        for admin in admins:
            MembershipFactory(channel=channel, user=admin, role=ChannelRole.ADMIN)
        for member in members:
            MembershipFactory(channel=channel, user=member)
        return channel

    return make


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def client_for() -> Callable[[User | None], APIClient]:
    def make(user: User | None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def captured_events(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every frame published (after commit), decoded, with the groups it went to.

    Events leave only after commit, so tests using this need
    `@pytest.mark.django_db(transaction=True)` (a plain django_db test never commits).
    """
    import orjson

    from apps.core import events as core_events

    published: list[dict[str, Any]] = []

    def capture(groups: list[str], message: dict[str, Any]) -> None:
        if message.get("type") == core_events.PUSH:
            published.append({"groups": groups, **orjson.loads(message["frame"])})

    monkeypatch.setattr(core_events, "_send_to_groups", capture)
    return published


@pytest.fixture
def settings_redis_layer(settings: Any) -> Iterator[None]:
    """Route the channel layer through the real Redis server for this test."""
    from channels.layers import channel_layers

    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_TEST_URL], "prefix": f"enclave-test-{os.getpid()}"},
        }
    }
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


__all__ = ["settings"]
