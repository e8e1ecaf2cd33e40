"""Small helpers shared by the chat service, selector and REST tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from apps.accounts.models import User
from apps.chat import services
from apps.chat.models import Channel, Message
from apps.core.errors import DomainError


def send(sender: User, channel: Channel, body: str = "hello", **kwargs: Any) -> Message:
    """Send through the real service and return the stored message."""
    return services.message_send(sender=sender, channel_id=channel.pk, body=body, **kwargs).message


@contextmanager
def raises_domain_error(code: str, status: int | None = None) -> Iterator[None]:
    """Assert that the block raises a DomainError with this stable `code` (and HTTP status)."""
    with pytest.raises(DomainError) as info:
        yield
    assert info.value.code == code, f"expected {code!r}, got {info.value.code!r}"
    if status is not None:
        assert info.value.http_status == status


def pushed_payloads(channel: Channel) -> list[dict[str, Any]]:
    """What `message.new` would carry for each stored message of `channel`, in seq order."""
    from apps.chat import events

    stored = Message.objects.select_related("sender").filter(channel=channel).order_by("seq")
    return [
        dict(
            events.message_payload(
                m,
                reactions=m.reactions.all(),
                mentioned_user_ids=[mention.user_id for mention in m.mentions.all()],
                attachments=m.attachments.order_by("created_at", "id"),
            )
        )
        for m in stored
    ]
