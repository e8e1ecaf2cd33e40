"""Push schemas of the workplace (sent by its services after commit, to the user's own topic).

Listed in `EVENT_SCHEMAS` like chat's (`apps/chat/events.py`); adding a field is free, any
other change bumps the protocol `v`.

- `reminder.created` {reminder}: I set a reminder (my other tabs add it to their list).
- `reminder.cancelled` {id}: I cancelled one (every tab drops it).
- `reminder.due` {reminder, dm_channel_id, dm_message_id}: a reminder was delivered; the web
  client shows a desktop notification and drops it from the pending list. `dm_*` name the
  system bot's message in my DM with it (null when nothing could be sent).
- `saved.added` / `saved.removed` {message_id, saved_at}: I saved a message or took it out.

REST answers with the same `ReminderPayload`s (`apps.workspace.reminders.reminder_payloads`).
"""

from __future__ import annotations

from typing import Literal, TypedDict

from apps.chat.events import MessagePayload


class SavedItemPayload(TypedDict):
    """One entry of my saved messages: the message as in the history, and where it is."""

    saved_at: str
    channel_id: int
    channel_name: str
    message: MessagePayload


class SavedEvent(TypedDict):
    """I saved a message or took it out of my saved messages (to my own tabs only)."""

    type: Literal["saved.added", "saved.removed"]
    message_id: int
    # When it was saved; None once removed.
    saved_at: str | None


class ReminderMessagePayload(TypedDict):
    id: int
    channel_id: int
    # The first characters of the message: only while I may still read it.
    excerpt: str


class ReminderPayload(TypedDict):
    id: int
    remind_at: str  # ISO 8601, UTC
    created_at: str
    note: str
    # The message it is about, if I may still read it; `message_unavailable` says there was one
    # I can no longer see (deleted, or I left its channel), without telling what it was.
    message: ReminderMessagePayload | None
    message_unavailable: bool


class ReminderCreatedEvent(TypedDict):
    type: Literal["reminder.created"]
    reminder: ReminderPayload


class ReminderCancelledEvent(TypedDict):
    type: Literal["reminder.cancelled"]
    id: int


class ReminderDueEvent(TypedDict):
    type: Literal["reminder.due"]
    reminder: ReminderPayload
    dm_channel_id: int | None
    dm_message_id: int | None


EVENT_SCHEMAS: dict[str, type] = {
    "reminder.created": ReminderCreatedEvent,
    "reminder.cancelled": ReminderCancelledEvent,
    "reminder.due": ReminderDueEvent,
    "saved.added": SavedEvent,
    "saved.removed": SavedEvent,
}
