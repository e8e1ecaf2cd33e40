"""Helpers and limits shared by the chat services (channel sequence, names, members)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.chat import events, queries
from apps.chat.markdown import MentionTarget
from apps.chat.models import (
    Channel,
    ChannelKind,
    Membership,
    Mention,
    Message,
    MessagePin,
    Reaction,
)
from apps.chat.selectors import direct_member_ids
from apps.core.errors import InvalidInput, NotFound
from apps.core.events import Audience, control_on_commit, publish_on_commit
from apps.core.runtime.sqlrows import fetch_all_together

MAX_CHANNEL_NAME = 80
MAX_GROUP_DM_MEMBERS = 16
MAX_EMOJI_LENGTH = 64


@dataclass(frozen=True, slots=True)
class SendResult:
    message: Message
    created: bool


# --- helpers ------------------------------------------------------------------------------------


def _next_channel_seq(*, channel_id: int, now: datetime, new_message: bool) -> int:
    """Take the channel's next sequence value. Locks the channel row until commit.

    Precondition: the caller is inside `transaction.atomic`. One statement
    (`queries.channel_take_next_seq`).
    """
    seq = queries.channel_take_next_seq(channel_id=channel_id, now=now, new_message=new_message)
    if seq is None:
        raise NotFound(_("No such channel."), code="channel_not_found")
    return seq


def _clean_body(body: object) -> str:
    if not isinstance(body, str):
        raise InvalidInput(_("The message must be text."), code="invalid_body")
    body = body.strip()
    if not body:
        raise InvalidInput(_("The message is empty."), code="empty_message")
    if len(body) > settings.ENCLAVE_MAX_MESSAGE_CHARS:
        raise InvalidInput(
            _("The message is too long."),
            code="message_too_long",
            details={"max_chars": settings.ENCLAVE_MAX_MESSAGE_CHARS},
        )
    if "\x00" in body:
        raise InvalidInput(_("The message contains a NUL character."), code="invalid_body")
    return body


def _resolve_usernames(usernames: set[str]) -> Mapping[str, MentionTarget]:
    """Active users by lower-cased username (one indexed query; see User.Meta.indexes)."""
    [rows] = fetch_all_together([_usernames_query(usernames)])
    return _mention_targets(rows)


def _usernames_query(usernames: Iterable[str]) -> tuple[str, list[Any]]:
    """`_resolve_usernames`' query (empty for no names): it runs with every batch."""
    return queries.active_users_by_username_query(usernames)


def _mention_targets(rows: Iterable[Sequence[Any]]) -> dict[str, MentionTarget]:
    users = (
        User.from_db(connection.alias, list(queries.MENTION_TARGET_FIELDS), row) for row in rows
    )
    return {u.username.lower(): MentionTarget(user_id=u.pk, display_name=u.name) for u in users}


def _clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise InvalidInput(_("A channel needs a name."), code="name_required")
    if len(name) > MAX_CHANNEL_NAME:
        raise InvalidInput(_("The channel name is too long."), code="name_too_long")
    return name


def _name_taken(name: str, *, exclude_id: int | None = None) -> bool:
    taken = Channel.objects.filter(
        kind__in=[ChannelKind.PUBLIC, ChannelKind.PRIVATE], name__iexact=name
    )
    if exclude_id is not None:
        taken = taken.exclude(pk=exclude_id)
    return taken.exists()


def _message_payload_fresh(message: Message) -> events.MessagePayload:
    """Payload of a message after a change: reloads its reactions, mentions, attachments and
    pin (four queries)."""
    reactions = list(Reaction.objects.filter(message=message))
    mentioned = Mention.objects.filter(message=message).values_list("user_id", flat=True)
    attachments = list(message.attachments.order_by("created_at", "id"))
    pin = MessagePin.objects.select_related("pinned_by").filter(message=message).first()
    return events.message_payload(
        message,
        reactions=reactions,
        mentioned_user_ids=mentioned,
        attachments=attachments,
        pinned=events.pin_payload(pin),
    )


def _active_users(user_ids: Iterable[int]) -> list[User]:
    ids = set(user_ids)
    users = list(User.objects.filter(pk__in=ids, is_active=True))
    if len(users) != len(ids):
        raise InvalidInput(_("Unknown or inactive user."), code="unknown_user")
    return users


def _add_members(channel: Channel, users: Iterable[User], *, role: str) -> list[Membership]:
    """Create memberships (read position at the end: history is readable, not unread)."""
    existing = set(
        Membership.objects.filter(channel=channel, user__in=list(users)).values_list(
            "user_id", flat=True
        )
    )
    new = [
        Membership(channel=channel, user=user, role=role, last_read_seq=channel.last_seq)
        for user in users
        if user.pk not in existing
    ]
    Membership.objects.bulk_create(new)
    for membership in new:
        control_on_commit(membership.user_id, "join", channel_id=channel.pk)
        publish_on_commit(
            events.member_event("member.joined", membership), to=Audience.channel(channel.pk)
        )
        publish_on_commit(
            {
                "type": "channel.created",
                "channel": events.channel_payload(channel, member_ids=direct_member_ids(channel)),
            },
            to=Audience.users([membership.user_id]),
        )
    return new


def _remove_member(channel: Channel, membership: Membership) -> None:
    membership.delete()
    # Tell the sockets first so they stop receiving the channel, then tell the remaining members.
    control_on_commit(membership.user_id, "leave", channel_id=channel.pk)
    event = events.member_event("member.left", membership)
    publish_on_commit(event, to=Audience.users([membership.user_id]))
    publish_on_commit(event, to=Audience.channel(channel.pk))


def _publish_channel_updated(channel: Channel) -> None:
    publish_on_commit(
        {"type": "channel.updated", "channel": events.channel_payload(channel)},
        to=Audience.channel(channel.pk),
    )
