"""Fixtures of the integrations tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from apps.accounts.models import Role, User
from apps.chat import services as chat_services
from apps.chat.models import Channel, ChannelKind
from apps.integrations import services
from apps.integrations.models import Bot
from tests.factories import UserFactory
from tests.integrations.http_server import loopback_server  # noqa: F401 - a fixture

PAYLOADS = Path(__file__).parent / "payloads"


@pytest.fixture(autouse=True)
def _fresh_snapshot() -> Iterator[None]:
    """Each test starts without the per-process settings snapshot of an earlier test."""
    from apps.integrations import snapshot

    snapshot.forget_cached_settings()
    yield
    snapshot.forget_cached_settings()


@pytest.fixture
def integrations_flag(db: Any) -> None:
    """The `integrations` feature flag on for everyone (the platform ships behind it)."""
    from django.core.cache import cache

    from apps.ops.models import FeatureFlag

    FeatureFlag.objects.create(name="integrations", everyone=True)
    cache.clear()


@pytest.fixture
def loopback_allowed(settings: Any) -> None:
    """The tests' own loopback server is on the administrator's allow list."""
    settings.ENCLAVE_EGRESS_ALLOWED_HOSTS = ["127.0.0.1"]


@dataclass
class Setup:
    admin: User
    alice: User
    bob: User
    channel: Channel
    bot: Bot
    bot_token: str


@pytest.fixture
def setup(integrations_flag: None) -> Setup:
    """An administrator's bot in #ops, where alice and bob are members."""
    admin = UserFactory(username="admin", role=Role.ADMIN)
    alice = UserFactory(username="alice")
    bob = UserFactory(username="bob")
    channel = chat_services.channel_create(
        creator=admin, kind=ChannelKind.PUBLIC, name="ops", member_ids=[alice.pk, bob.pk]
    )
    bot, raw = services.bot_create(actor=admin, username="cibot", display_name="CI")
    return Setup(admin, alice, bob, channel, bot, raw)


def payload(name: str) -> Any:
    """A real payload sample committed under tests/integrations/payloads/."""
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))
