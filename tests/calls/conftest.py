"""Fixtures of the calls tests: the `calls` flag on, and a direct message between two people."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from apps.accounts.models import Role, User
from apps.chat import services as chat_services
from apps.chat.models import Channel
from tests.factories import UserFactory


@pytest.fixture
def calls_flag(db: Any) -> None:
    """The `calls` feature flag on for everyone (calls ship behind it)."""
    from django.core.cache import cache

    from apps.ops.models import FeatureFlag

    FeatureFlag.objects.create(name="calls", everyone=True)
    cache.clear()  # flags are cached with their members


@dataclass
class Pair:
    alice: User
    bob: User
    dm: Channel


def make_dm(*users: User) -> Channel:
    return chat_services.dm_open(user=users[0], user_ids=[u.pk for u in users[1:]])


@pytest.fixture
def pair(calls_flag: None) -> Pair:
    alice = UserFactory(username="alice", role=Role.MEMBER)
    bob = UserFactory(username="bob", role=Role.MEMBER)
    return Pair(alice=alice, bob=bob, dm=make_dm(alice, bob))
