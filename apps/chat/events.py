"""Typed schemas of every chat event and the payload builders that produce them.

REST responses use the same payload builders, so a message looks identical whether it arrived
as a push or was fetched. Adding a field is free; any other change bumps the protocol `v`.

Every channel-scoped change (new message, edit, deletion, reaction, pin) consumes the next value of
the channel's sequence and carries it as `channel_seq`. That stream is dense: a client that
sees a gap fetches `GET /api/v1/channels/{id}/messages/?after_seq=N` and converges.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal, NotRequired, Protocol, TypedDict

from apps.accounts.events import NotificationSettingsEvent, UserStatusEvent
from apps.accounts.models import User
from apps.chat.attachments import AttachmentPayload, attachment_store
from apps.chat.models import Channel, Membership, Message, MessagePin, Reaction


class ReactionPayload(TypedDict):
    emoji: str
    count: int
    user_ids: list[int]


class PinPayload(TypedDict):
    """Who pinned a message to its channel, and when."""

    pinned_by_id: int | None
    pinned_by_name: str
    pinned_at: str


class MessagePayload(TypedDict):
    id: int
    channel_id: int
    seq: int
    version: int
    sender_id: int
    sender_name: str
    client_msg_id: str | None
    body: str
    html: str
    thread_root_id: int | None
    reply_count: int
    last_reply_at: str | None
    mentions_everyone: bool
    mentioned_user_ids: list[int]
    created_at: str
    edited_at: str | None
    deleted: bool
    reactions: list[ReactionPayload]
    # Files attached when it was sent; only clean ones show more than id and status.
    attachments: list[AttachmentPayload]
    # Pinned to its channel (None: not pinned; a deleted message is never pinned).
    pinned: PinPayload | None


class ChannelPayload(TypedDict):
    id: int
    kind: str
    name: str
    topic: str
    description: str
    is_archived: bool
    is_announcement: bool
    created_at: str
    last_seq: int
    last_message_at: str | None
    member_ids: list[int] | None


class MessageNewEvent(TypedDict):
    type: Literal["message.new"]
    channel_id: int
    channel_seq: int
    message: MessagePayload
    # Replies only: the thread root's new reply count, so clients update it without a fetch.
    thread_root: NotRequired[ThreadRootPayload]


class MessageUpdatedEvent(TypedDict):
    type: Literal["message.updated"]
    channel_id: int
    channel_seq: int
    message: MessagePayload


class MessageDeletedEvent(TypedDict):
    type: Literal["message.deleted"]
    channel_id: int
    channel_seq: int
    message: MessagePayload
    thread_root: NotRequired[ThreadRootPayload]


class ReactionEvent(TypedDict):
    type: Literal["reaction.added", "reaction.removed"]
    channel_id: int
    channel_seq: int
    message_id: int
    user_id: int
    emoji: str
    reactions: list[ReactionPayload]


class PinEvent(TypedDict):
    """A message was pinned to its channel or unpinned (`pinned` is then None)."""

    type: Literal["pin.added", "pin.removed"]
    channel_id: int
    channel_seq: int
    message_id: int
    user_id: int
    pinned: PinPayload | None


class ChannelEvent(TypedDict):
    type: Literal["channel.created", "channel.updated"]
    channel: ChannelPayload


class MemberEvent(TypedDict):
    type: Literal["member.joined", "member.left", "member.updated"]
    channel_id: int
    user_id: int
    role: str


class MembershipUpdatedEvent(TypedDict):
    """The user's own settings for a channel changed (sent to that user's tabs only)."""

    type: Literal["membership.updated"]
    channel_id: int
    is_muted: bool
    notification_level: str


class ReadEvent(TypedDict):
    type: Literal["read"]
    channel_id: int
    last_read_seq: int


class ReceiptsUpdatedEvent(TypedDict):
    """A member's read position moved in a conversation with read receipts (to its members):
    their clients recount "Read by N" under their own messages up to `seq`."""

    type: Literal["receipts.updated"]
    channel_id: int
    user_id: int
    seq: int


class TypingEvent(TypedDict):
    type: Literal["typing"]
    channel_id: int
    user_id: int
    thread_root_id: int | None


class PresenceEvent(TypedDict):
    type: Literal["presence"]
    user_id: int
    status: str


class ResyncEvent(TypedDict):
    """The server's event bus was interrupted: pushes may be missing, catch up over REST."""

    type: Literal["resync"]


class ThreadRootPayload(TypedDict):
    id: int
    reply_count: int
    last_reply_at: str | None


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def pin_payload(pin: MessagePin | None, *, pinned_by_name: str | None = None) -> PinPayload | None:
    """The `pinned` field of a message; `pinned_by_name` given, `pin.pinned_by` is not read."""
    if pin is None:
        return None
    if pinned_by_name is None:
        pinned_by_name = pin.pinned_by.name if pin.pinned_by is not None else ""
    return {
        "pinned_by_id": pin.pinned_by_id,
        "pinned_by_name": pinned_by_name,
        "pinned_at": pin.pinned_at.isoformat(),
    }


def reactions_payload(reactions: Iterable[Reaction]) -> list[ReactionPayload]:
    """Group reaction rows by emoji, in order of first use."""
    grouped: dict[str, list[int]] = {}
    for reaction in sorted(reactions, key=lambda r: (r.created_at, r.pk)):
        grouped.setdefault(reaction.emoji, []).append(reaction.user_id)
    return grouped_reactions_payload(grouped)


def grouped_reactions_payload(grouped: dict[str, list[int]]) -> list[ReactionPayload]:
    """Reactions already grouped by emoji (in order of first use) -> their payload."""
    return [
        {"emoji": emoji, "count": len(user_ids), "user_ids": user_ids}
        for emoji, user_ids in grouped.items()
    ]


class MessageColumns(Protocol):
    """The columns a message payload is built from: a `Message` or a read path's row."""

    @property
    def id(self) -> int: ...
    @property
    def channel_id(self) -> int: ...
    @property
    def seq(self) -> int: ...
    @property
    def version(self) -> int: ...
    @property
    def sender_id(self) -> int: ...
    @property
    def client_msg_id(self) -> uuid.UUID | None: ...
    @property
    def body(self) -> str: ...
    @property
    def html(self) -> str: ...
    @property
    def thread_root_id(self) -> int | None: ...
    @property
    def reply_count(self) -> int: ...
    @property
    def last_reply_at(self) -> datetime | None: ...
    @property
    def mentions_everyone(self) -> bool: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def edited_at(self) -> datetime | None: ...
    @property
    def deleted_at(self) -> datetime | None: ...


def message_payload(
    message: Message,
    *,
    sender: User | None = None,
    reactions: Iterable[Reaction] = (),
    mentioned_user_ids: Iterable[int] = (),
    attachments: Iterable[Any] = (),
    pinned: PinPayload | None = None,
) -> MessagePayload:
    """The public shape of a message. Deleted messages keep id and seq, nothing else."""
    return columns_payload(
        message,
        sender_name=(sender or message.sender).name,
        reactions=reactions_payload(reactions),
        mentioned_user_ids=mentioned_user_ids,
        attachments=attachments,
        pinned=pinned,
    )


def columns_payload(
    message: MessageColumns,
    *,
    sender_name: str,
    reactions: list[ReactionPayload],
    mentioned_user_ids: Iterable[int],
    attachments: Iterable[Any],
    pinned: PinPayload | None = None,
) -> MessagePayload:
    """`message_payload` from the message's columns (the history page reads rows, not models)."""
    deleted = message.deleted_at is not None
    return {
        "id": message.id,
        "channel_id": message.channel_id,
        "seq": message.seq,
        "version": message.version,
        "sender_id": message.sender_id,
        "sender_name": sender_name,
        "client_msg_id": str(message.client_msg_id) if message.client_msg_id else None,
        "body": "" if deleted else message.body,
        "html": "" if deleted else message.html,
        "thread_root_id": message.thread_root_id,
        "reply_count": message.reply_count,
        "last_reply_at": iso(message.last_reply_at),
        "mentions_everyone": message.mentions_everyone and not deleted,
        "mentioned_user_ids": [] if deleted else sorted(mentioned_user_ids),
        "created_at": message.created_at.isoformat(),
        "edited_at": iso(message.edited_at),
        "deleted": deleted,
        "reactions": [] if deleted else reactions,
        "attachments": [] if deleted else [attachment_store().payload(a) for a in attachments],
        "pinned": None if deleted else pinned,
    }


def channel_payload(channel: Channel, *, member_ids: list[int] | None = None) -> ChannelPayload:
    """The public shape of a channel; `member_ids` is given for direct and group channels."""
    return {
        "id": channel.pk,
        "kind": channel.kind,
        "name": channel.name,
        "topic": channel.topic,
        "description": channel.description,
        "is_archived": channel.is_archived,
        "is_announcement": channel.is_announcement,
        "created_at": channel.created_at.isoformat(),
        "last_seq": channel.last_seq,
        "last_message_at": iso(channel.last_message_at),
        "member_ids": member_ids,
    }


def member_event(
    kind: Literal["member.joined", "member.left", "member.updated"], membership: Membership
) -> MemberEvent:
    return {
        "type": kind,
        "channel_id": membership.channel_id,
        "user_id": membership.user_id,
        "role": membership.role,
    }


EVENT_SCHEMAS: dict[str, type] = {
    "message.new": MessageNewEvent,
    "message.updated": MessageUpdatedEvent,
    "message.deleted": MessageDeletedEvent,
    "reaction.added": ReactionEvent,
    "reaction.removed": ReactionEvent,
    "pin.added": PinEvent,
    "pin.removed": PinEvent,
    "channel.created": ChannelEvent,
    "channel.updated": ChannelEvent,
    "member.joined": MemberEvent,
    "member.left": MemberEvent,
    "member.updated": MemberEvent,
    "membership.updated": MembershipUpdatedEvent,
    "read": ReadEvent,
    "receipts.updated": ReceiptsUpdatedEvent,
    "typing": TypingEvent,
    "presence": PresenceEvent,
    "resync": ResyncEvent,
    "user.status": UserStatusEvent,
    "notification_settings.updated": NotificationSettingsEvent,
}
