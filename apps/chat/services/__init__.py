"""Writes on the chat domain. The only place that publishes chat events (after commit).

One module per area; every public name is re-exported here, so callers import
`apps.chat.services` (or `from apps.chat import services`) whatever module holds it:

- `channels`: channels, memberships, direct messages
- `messages`: one message at a time (send on the REST path, edit, delete)
- `send_batch`: the group commit of many sends (the WebSocket path)
- `reactions`, `pins`, `read_state` (read marks, typing), `presence`
- `history_import`: another system's history written as it was (the importers)
- `_common`: helpers and limits they share

Hot path: `message_send` runs once per message at up to 1,000 messages/s. It costs a fixed
number of queries whatever the channel size: no per-member work happens on send.
"""

from __future__ import annotations

from apps.chat.services._common import (
    MAX_CHANNEL_NAME,
    MAX_EMOJI_LENGTH,
    MAX_GROUP_DM_MEMBERS,
    SendResult,
)
from apps.chat.services.channels import (
    channel_add_bot,
    channel_change_owner,
    channel_create,
    channel_invite,
    channel_join,
    channel_leave,
    channel_members_add_from_directory,
    channel_remove_member,
    channel_set_archived,
    channel_update,
    dm_open,
    membership_set_role,
    membership_update_settings,
)
from apps.chat.services.history_import import (
    ImportedMessage,
    channel_import,
    messages_import,
)
from apps.chat.services.messages import (
    MessagesPurged,
    message_attachments_changed,
    message_delete,
    message_edit,
    message_send,
    messages_purge,
    messages_sender_changed,
)
from apps.chat.services.pins import (
    message_pin,
    message_unpin,
)
from apps.chat.services.presence import (
    presence_disconnect,
    presence_keep_alive,
    presence_update,
)
from apps.chat.services.reactions import (
    reaction_add,
    reaction_remove,
)
from apps.chat.services.read_state import (
    read_mark,
    typing_notify,
)
from apps.chat.services.send_batch import (
    MAX_SEND_BATCH,
    SendKey,
    SendRequest,
    messages_send_batch,
)

__all__ = [
    "MAX_CHANNEL_NAME",
    "MAX_EMOJI_LENGTH",
    "MAX_GROUP_DM_MEMBERS",
    "MAX_SEND_BATCH",
    "ImportedMessage",
    "MessagesPurged",
    "SendKey",
    "SendRequest",
    "SendResult",
    "channel_add_bot",
    "channel_change_owner",
    "channel_create",
    "channel_import",
    "channel_invite",
    "channel_join",
    "channel_leave",
    "channel_members_add_from_directory",
    "channel_remove_member",
    "channel_set_archived",
    "channel_update",
    "dm_open",
    "membership_set_role",
    "membership_update_settings",
    "message_attachments_changed",
    "message_delete",
    "message_edit",
    "message_pin",
    "message_send",
    "message_unpin",
    "messages_import",
    "messages_purge",
    "messages_send_batch",
    "messages_sender_changed",
    "presence_disconnect",
    "presence_keep_alive",
    "presence_update",
    "reaction_add",
    "reaction_remove",
    "read_mark",
    "typing_notify",
]
