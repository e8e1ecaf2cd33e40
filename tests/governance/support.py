"""Helpers of the governance tests."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apps.accounts.models import User
from apps.chat.models import Channel, Message
from tests.chat.support import send


def old_messages(sender: User, channel: Channel, count: int, *, days_ago: int) -> list[Message]:
    """`count` messages sent through the service, then dated `days_ago` days back."""
    messages = [send(sender, channel, f"old {i}") for i in range(count)]
    Message.objects.filter(pk__in=[m.pk for m in messages]).update(
        created_at=timezone.now() - timedelta(days=days_ago)
    )
    return messages
