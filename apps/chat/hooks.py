"""Hooks for higher apps that act on new messages (the assistant answering `@assistant`).

Chat cannot import the apps above it (docs/architecture/README.md): they register a listener
here in their `AppConfig.ready()`. A listener runs for every new message, inside the sending
transaction, on the send path (1,000 messages/s): it must decide from what it is handed, with
no query of its own in the common case, and defer any real work with `transaction.on_commit`
(a Celery task that takes the message id).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from apps.chat.models import Message


@dataclass(frozen=True, slots=True)
class NewMessage:
    """What a listener learns of a new message, all of it already in the sender's hands."""

    message: Message
    mentioned_user_ids: frozenset[int]
    # "3,17": the sorted member ids of a direct or group channel; None for named channels.
    dm_key: str | None


NewMessageListener = Callable[[NewMessage], None]

_listeners: list[NewMessageListener] = []


def register_new_message_listener(listener: NewMessageListener) -> None:
    """Call `listener` for every message sent (idempotent: a listener is held once)."""
    if listener not in _listeners:
        _listeners.append(listener)


def notify_new_message(
    message: Message, *, mentioned_user_ids: frozenset[int] | set[int], dm_key: str | None
) -> None:
    """Hand a new message to the listeners; a no-op without any (the default)."""
    if not _listeners:
        return
    event = NewMessage(message, frozenset(mentioned_user_ids), dm_key)
    for listener in _listeners:
        listener(event)
