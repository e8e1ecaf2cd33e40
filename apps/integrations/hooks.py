"""What this app plugs into lower apps at start-up (`IntegrationsConfig.ready()`): the
organisation's egress allow list, the slash commands, and the message-created hook that
queues outgoing webhooks and link previews.

The hook is on the per-message send path, so it decides from `snapshot` (per process, a few
seconds old at most): for a message it does not concern, the cost is a set lookup and a
substring test.
"""

from __future__ import annotations

from django.db import transaction

from apps.chat.models import Message
from apps.integrations.snapshot import current, org_allow_list


def on_message_created(message: Message) -> None:
    """Queue outgoing webhooks and link previews for a new message, after commit."""
    body = message.body
    wants_previews = "http" in body
    sender = message.sender if Message.sender.is_cached(message) else None
    # Bots' messages trigger no outgoing webhooks (no bot loops); previews still.
    if sender is not None and sender.is_bot and not wants_previews:
        return
    snap = current()
    from apps.integrations import tasks

    message_id = message.pk
    if message.channel_id in snap.outgoing_channel_ids and not (sender and sender.is_bot):
        transaction.on_commit(lambda: tasks.dispatch_outgoing.delay(message_id))
    if wants_previews and snap.previews_on and ("http://" in body or "https://" in body):
        transaction.on_commit(lambda: tasks.fetch_link_previews.delay(message_id))


def install() -> None:
    from apps.chat.commands import register_command_resolver
    from apps.chat.message_hooks import register_message_created_hook
    from apps.core.egress import register_allow_list_provider
    from apps.integrations import builtin_commands

    register_allow_list_provider(org_allow_list)
    register_message_created_hook(on_message_created)
    builtin_commands.register_builtins()
    register_command_resolver(builtin_commands.resolve_custom, builtin_commands.list_custom)
