"""Fixtures of the assistant tests: the `assistant` flag, the bot, a loopback model server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from apps.accounts.models import User
from apps.assistant import services
from apps.assistant.models import AssistantSettings
from apps.chat import services as chat_services
from apps.chat.models import Channel, Message
from tests.assistant.llm_server import LLMServer, RunningServer


@pytest.fixture
def assistant_flag(db: Any) -> None:
    """The `assistant` feature flag on for everyone (the assistant ships behind it)."""
    from django.core.cache import cache

    from apps.ops.models import FeatureFlag

    FeatureFlag.objects.create(name="assistant", everyone=True)
    cache.clear()  # flags are cached with their members


@pytest.fixture
def bot(assistant_flag: None) -> Iterator[User]:
    services.forget_bot_id()
    yield services.assistant_bot()
    services.forget_bot_id()


@pytest.fixture
def llm_server() -> Iterator[LLMServer]:
    server = RunningServer()
    yield server.start()
    server.stop()


@pytest.fixture
def configured(llm_server: LLMServer, db: Any) -> LLMServer:
    """The assistant set up with the loopback server as its model endpoint."""
    row = services.assistant_settings()
    row.endpoint_url = llm_server.url
    row.model = "test-model"
    row.api_key = "sk-test"
    row.timeout_seconds = 5
    row.save()
    return llm_server


def configure(**fields: Any) -> AssistantSettings:
    row = services.assistant_settings()
    for name, value in fields.items():
        setattr(row, name, value)
    row.save()
    return row


def say(user: User, channel: Channel, body: str, thread_root_id: int | None = None) -> Message:
    return chat_services.message_send(
        sender=user,
        channel_id=channel.pk,
        body=body,
        client_msg_id=str(uuid.uuid4()),
        thread_root_id=thread_root_id,
    ).message


@dataclass
class World:
    """alice is in #general and #secret (she made it), bob in #general only."""

    alice: User
    bob: User
    general: Channel
    secret: Channel
    secret_messages: list[Message]
    general_messages: list[Message]


SECRET_TEXTS = [
    "The launch codename is Falcon and the launch budget is 3 million",
    "秘密项目的发布代号是猎鹰，预算三百万",
]
GENERAL_TEXTS = [
    "The launch party is on Friday at 5pm in the atrium",
    "发布会定在周五下午五点",
]


@pytest.fixture
def world(assistant_flag: None, make_user: Any) -> World:
    alice = make_user(username="alice")
    bob = make_user(username="bob")
    general = chat_services.channel_create(
        creator=alice, name="general", kind="public", member_ids=[bob.pk]
    )
    secret = chat_services.channel_create(creator=alice, name="secret", kind="private")
    return World(
        alice=alice,
        bob=bob,
        general=general,
        secret=secret,
        secret_messages=[say(alice, secret, text) for text in SECRET_TEXTS],
        general_messages=[say(alice, general, text) for text in GENERAL_TEXTS],
    )
