"""Hooks higher apps attach to "a message was created" (integrations: outgoing webhooks and
link previews), from their AppConfig.ready(); chat never imports them.

A hook runs inside the sending transaction, once per new message, on the per-message send
path: it must decide in constant time, without a query, whether it cares (a cached set, a
substring test) and defer real work to `transaction.on_commit` and a Celery task.
"""

from __future__ import annotations

from collections.abc import Callable

from apps.chat.models import Message

MessageHook = Callable[[Message], None]
_hooks: list[MessageHook] = []


def register_message_created_hook(hook: MessageHook) -> None:
    if hook not in _hooks:
        _hooks.append(hook)


def message_created(message: Message) -> None:
    """Called by the send services for every message they create (single or batched)."""
    for hook in _hooks:
        hook(message)
