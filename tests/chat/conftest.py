"""People and a channel shared by the chat tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from apps.accounts.models import User
from apps.chat import services
from apps.chat.models import Channel, ChannelKind

MakeUser = Callable[..., User]


@pytest.fixture
def alice(make_user: MakeUser) -> User:
    return make_user(username="alice")


@pytest.fixture
def bob(make_user: MakeUser) -> User:
    return make_user(username="bob")


@pytest.fixture
def carol(make_user: MakeUser) -> User:
    return make_user(username="carol")


@pytest.fixture
def general(alice: User, bob: User) -> Channel:
    """A public channel: alice is its channel admin, bob a plain member."""
    return services.channel_create(
        creator=alice, kind=ChannelKind.PUBLIC, name="general", member_ids=[bob.pk]
    )
