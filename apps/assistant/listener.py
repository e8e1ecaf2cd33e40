"""The send path's hook (apps.chat.hooks): does a new message ask the assistant?

It runs for every message sent, inside the sending transaction, so it decides from what the
send already computed: the mentioned user ids, the text, and the direct channel's member key.
A mention resolves `@username` only, so a message mentions the bot only if its text holds
`@assistant`: any other message, with mentions or not, outside a direct conversation, needs
no look-up at all (a batch of 50 messages mentioning people costs nothing here). The bot's id,
or its absence, is remembered per process (see `assistant_bot_id`), so direct messages cost at
most one look-up per process every few seconds. A message for the assistant enqueues one
Celery task after the commit; the answer is written there.
"""

from __future__ import annotations

from django.db import transaction

from apps.assistant.services import BOT_USERNAME, assistant_bot_id
from apps.chat.hooks import NewMessage


def addresses_assistant(event: NewMessage, bot_id: int) -> bool:
    """The message mentions the bot, or is in a direct conversation with it."""
    if bot_id in event.mentioned_user_ids:
        return True
    return event.dm_key is not None and str(bot_id) in event.dm_key.split(",")


_WRITTEN_MENTION = "@" + BOT_USERNAME


def may_mention_assistant(event: NewMessage) -> bool:
    """Whether the bot can be among the mentioned users: mentions are `@username`, matched
    without regard to case, so the text must hold `@assistant` (a necessary condition only:
    in code, or as `@assistants`, it mentions nobody)."""
    return bool(event.mentioned_user_ids) and _WRITTEN_MENTION in event.message.body.lower()


def on_new_message(event: NewMessage) -> None:
    if event.dm_key is None and not may_mention_assistant(event):
        return  # the common case, mentions of people included: nothing to look up
    bot_id = assistant_bot_id()
    if bot_id is None or event.message.sender_id == bot_id:
        return
    if addresses_assistant(event, bot_id):
        from apps.assistant.tasks import answer_message

        message_id = event.message.pk
        transaction.on_commit(lambda: answer_message.delay(message_id))
