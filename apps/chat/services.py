"""Writes on the chat domain. The only place that publishes chat events (after commit).

Hot path: `message_send` runs once per message at up to 1,000 messages/s. It costs a fixed
number of queries whatever the channel size: no per-member work happens on send.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from apps.accounts.audit import AuditAction, audit_record
from apps.accounts.models import OrganizationSettings, User
from apps.accounts.permissions import (
    OrgAction,
    access_org_action,
    may_do,
    organization_settings,
)
from apps.chat import events
from apps.chat.markdown import MentionTarget, RenderedMessage, render_message
from apps.chat.models import (
    NAMED_KINDS,
    Channel,
    ChannelKind,
    ChannelRole,
    Membership,
    Mention,
    Message,
    NotificationLevel,
    Reaction,
)
from apps.chat.permissions import (
    access_channel_manage,
    access_channel_post,
    access_channel_read,
    access_message_delete,
    access_message_edit,
    access_message_react,
    channel_post_access_from_rows,
    channel_post_access_query,
)
from apps.chat.selectors import direct_member_ids, user_directory
from apps.core.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from apps.core.events import Audience, control_on_commit, publish_on_commit
from apps.core.sqlrows import (
    any_of,
    fetch_all_prepared,
    fetch_all_together,
    prepared_cursor,
    rows_table,
)
from apps.files import services as file_services
from apps.files.models import Attachment

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

    Precondition: the caller is inside `transaction.atomic`. One statement: UPDATE ... RETURNING
    works on PostgreSQL and SQLite >= 3.35.
    """
    table = Channel._meta.db_table
    with connection.cursor() as cursor:
        if new_message:
            cursor.execute(
                f"UPDATE {table} SET last_seq = last_seq + 1, last_message_at = %s "  # noqa: S608
                "WHERE id = %s RETURNING last_seq",
                [now, channel_id],
            )
        else:
            cursor.execute(
                f"UPDATE {table} SET last_seq = last_seq + 1 WHERE id = %s RETURNING last_seq",  # noqa: S608
                [channel_id],
            )
        row = cursor.fetchone()
    if row is None:
        raise NotFound(_("No such channel."), code="channel_not_found")
    return int(row[0])


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


_MENTION_TARGET_FIELDS = ("id", "username", "display_name", "first_name", "last_name")


def _usernames_query(usernames: Iterable[str]) -> tuple[str, list[Any]]:
    """`_resolve_usernames`' query (empty for no names), by hand: it runs with every batch."""
    names = sorted(usernames)
    if not names:
        return "", []
    columns = ", ".join(connection.ops.quote_name(name) for name in _MENTION_TARGET_FIELDS)
    wanted, params = any_of(names, "text")  # on PostgreSQL one text for any names: prepared
    return (
        f"SELECT {columns} FROM {User._meta.db_table} "  # noqa: S608 - names from the model
        f"WHERE LOWER(username) {wanted} AND is_active",
        params,
    )


def _mention_targets(rows: Iterable[Sequence[Any]]) -> dict[str, MentionTarget]:
    users = (User.from_db(connection.alias, list(_MENTION_TARGET_FIELDS), row) for row in rows)
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
    """Payload of a message after a change: reloads its reactions and mentions (two queries)."""
    reactions = list(Reaction.objects.filter(message=message))
    mentioned = Mention.objects.filter(message=message).values_list("user_id", flat=True)
    attachments = list(message.attachments.order_by("created_at", "id"))
    return events.message_payload(
        message, reactions=reactions, mentioned_user_ids=mentioned, attachments=attachments
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


# --- channels ----------------------------------------------------------------------------------


@transaction.atomic
def channel_members_add_from_directory(
    *, channel: Channel, users: Iterable[User]
) -> list[Membership]:
    """Add users to a named channel because a directory group maps to it (no actor to check).

    Returns the memberships created; users already in the channel are left as they are.
    """
    if channel.kind not in NAMED_KINDS or channel.is_archived:
        raise InvalidInput(_("Only active named channels take directory members."), code="kind")
    return _add_members(
        channel, [user for user in users if user.is_active], role=ChannelRole.MEMBER
    )


@transaction.atomic
def channel_create(
    *,
    creator: User,
    kind: str,
    name: str,
    topic: str = "",
    description: str = "",
    member_ids: Iterable[int] = (),
    is_announcement: bool = False,
) -> Channel:
    """Create a public or private channel; the creator becomes its channel admin.

    The organisation settings decide who may create each kind, and who may add others.
    """
    if kind not in (ChannelKind.PUBLIC, ChannelKind.PRIVATE):
        raise InvalidInput(_("Use public or private; DMs are opened, not created."), code="kind")
    if creator.is_guest:
        raise Forbidden(_("Guests cannot create channels."), code="guest_forbidden")
    access_org_action(
        user=creator,
        action=OrgAction.CREATE_PUBLIC_CHANNEL
        if kind == ChannelKind.PUBLIC
        else OrgAction.CREATE_PRIVATE_CHANNEL,
    )
    member_ids = list(member_ids)
    if any(uid != creator.pk for uid in member_ids):
        access_org_action(user=creator, action=OrgAction.INVITE)
    name = _clean_name(name)
    if _name_taken(name):
        raise Conflict(_("A channel with this name exists."), code="name_taken")
    try:
        with transaction.atomic():  # the unique index decides a concurrent race on the name
            channel = Channel.objects.create(
                kind=kind,
                name=name,
                topic=topic.strip()[:250],
                description=description.strip()[:2000],
                created_by=creator,
                is_announcement=is_announcement,
            )
    except IntegrityError:
        raise Conflict(_("A channel with this name exists."), code="name_taken") from None
    _add_members(channel, [creator], role=ChannelRole.ADMIN)
    others = [uid for uid in set(member_ids) if uid != creator.pk]
    if others:
        _add_members(channel, _active_users(others), role=ChannelRole.MEMBER)
    return channel


@transaction.atomic
def channel_update(
    *,
    actor: User,
    channel_id: int,
    name: str | None = None,
    topic: str | None = None,
    description: str | None = None,
    is_announcement: bool | None = None,
) -> Channel:
    """Rename a channel, change its topic/description or announcement mode (channel admins)."""
    channel, _membership = access_channel_manage(user=actor, channel_id=channel_id)
    if channel.is_archived:
        raise Forbidden(_("This channel is archived."), code="channel_archived")
    fields: list[str] = []
    if name is not None:
        name = _clean_name(name)
        if _name_taken(name, exclude_id=channel.pk):
            raise Conflict(_("A channel with this name exists."), code="name_taken")
        channel.name = name
        fields.append("name")
    if topic is not None:
        channel.topic = topic.strip()[:250]
        fields.append("topic")
    if description is not None:
        channel.description = description.strip()[:2000]
        fields.append("description")
    if is_announcement is not None and is_announcement != channel.is_announcement:
        channel.is_announcement = is_announcement
        fields.append("is_announcement")
        audit_record(
            action=AuditAction.CHANNEL_PRIVACY_CHANGED,
            actor=actor,
            target=channel,
            metadata={"is_announcement": is_announcement},
        )
    if fields:
        try:
            with transaction.atomic():  # the unique index decides a concurrent rename race
                channel.save(update_fields=fields)
        except IntegrityError:
            raise Conflict(_("A channel with this name exists."), code="name_taken") from None
        _publish_channel_updated(channel)
    return channel


@transaction.atomic
def channel_set_archived(*, actor: User, channel_id: int, archived: bool) -> Channel:
    """Archive (read-only from then on) or unarchive a channel."""
    channel, _membership = access_channel_manage(user=actor, channel_id=channel_id)
    if channel.is_archived != archived:
        channel.is_archived = archived
        channel.save(update_fields=["is_archived"])
        _publish_channel_updated(channel)
        audit_record(
            action=AuditAction.CHANNEL_ARCHIVED if archived else AuditAction.CHANNEL_UNARCHIVED,
            actor=actor,
            target=channel,
            metadata={"kind": channel.kind},
        )
    return channel


@transaction.atomic
def channel_join(*, user: User, channel_id: int) -> Membership:
    """Join a public channel."""
    channel, membership = access_channel_read(user=user, channel_id=channel_id)
    if membership is not None:
        return membership
    if channel.kind != ChannelKind.PUBLIC or user.is_guest:
        raise Forbidden(_("You need an invitation to join."), code="invitation_required")
    if channel.is_archived:
        raise Forbidden(_("This channel is archived."), code="channel_archived")
    return _add_members(channel, [user], role=ChannelRole.MEMBER)[0]


@transaction.atomic
def channel_leave(*, user: User, channel_id: int) -> None:
    """Leave a public or private channel (direct messages cannot be left)."""
    channel, membership = access_channel_read(user=user, channel_id=channel_id)
    if membership is None:
        raise Forbidden(_("You are not a member."), code="not_member")
    if channel.is_direct:
        raise Forbidden(_("You cannot leave a direct message."), code="direct_channel")
    _remove_member(channel, membership)


@transaction.atomic
def channel_invite(*, actor: User, channel_id: int, user_ids: Iterable[int]) -> list[Membership]:
    """Add users to a channel. Members may invite to public channels; admins to private ones."""
    channel, membership = access_channel_read(user=actor, channel_id=channel_id)
    if channel.is_direct:
        raise Forbidden(_("Start a new group message instead."), code="direct_channel")
    if channel.is_archived:
        raise Forbidden(_("This channel is archived."), code="channel_archived")
    from apps.chat.permissions import can_manage_channel

    may_invite = can_manage_channel(user=actor, channel=channel, membership=membership) or (
        channel.kind == ChannelKind.PUBLIC and membership is not None and not actor.is_guest
    )
    if not may_invite:
        raise Forbidden(_("You cannot invite people to this channel."), code="cannot_invite")
    access_org_action(user=actor, action=OrgAction.INVITE)
    ids = set(user_ids)
    if not ids:
        raise InvalidInput(_("Choose someone to invite."), code="no_users")
    return _add_members(channel, _active_users(ids), role=ChannelRole.MEMBER)


@transaction.atomic
def channel_remove_member(*, actor: User, channel_id: int, user_id: int) -> None:
    """Remove a member (channel admins, org admins). Their sockets stop receiving at once."""
    if user_id == actor.pk:
        channel_leave(user=actor, channel_id=channel_id)
        return
    channel, _membership = access_channel_manage(user=actor, channel_id=channel_id)
    target = Membership.objects.filter(channel=channel, user_id=user_id).first()
    if target is None:
        raise NotFound(_("Not a member."), code="member_not_found")
    _remove_member(channel, target)


@transaction.atomic
def membership_set_role(*, actor: User, channel_id: int, user_id: int, role: str) -> Membership:
    """Make a member channel admin or plain member."""
    if role not in ChannelRole.values:
        raise InvalidInput(_("Unknown channel role."), code="invalid_role")
    channel, _membership = access_channel_manage(user=actor, channel_id=channel_id)
    target = Membership.objects.filter(channel=channel, user_id=user_id).first()
    if target is None:
        raise NotFound(_("Not a member."), code="member_not_found")
    if target.role != role:
        target.role = role
        target.save(update_fields=["role"])
        publish_on_commit(
            events.member_event("member.updated", target), to=Audience.channel(channel.pk)
        )
    return target


@transaction.atomic
def channel_change_owner(*, actor: User, channel_id: int, user_id: int) -> Membership:
    """Make `user_id` a channel admin (adding them first if needed). Audited.

    The admin console's "change owner", for a channel whose admins left: organisation admins
    may do it for private channels they are not in too; otherwise channel admins only.
    """
    if actor.is_active and actor.is_org_admin:
        channel = Channel.objects.filter(pk=channel_id).first()
        if channel is None:
            raise NotFound(_("No such channel."), code="channel_not_found")
    else:
        channel, _membership = access_channel_manage(user=actor, channel_id=channel_id)
    if channel.kind not in (ChannelKind.PUBLIC, ChannelKind.PRIVATE):
        raise Forbidden(_("Direct messages have no owner."), code="direct_channel")
    owner = User.objects.filter(pk=user_id, is_active=True).first()
    if owner is None:
        raise NotFound(_("No such user."), code="user_not_found")
    if owner.is_guest:
        raise Forbidden(_("A guest cannot own a channel."), code="guest_cannot_own")
    target = Membership.objects.filter(channel=channel, user=owner).first()
    if target is None:
        target = _add_members(channel, [owner], role=ChannelRole.ADMIN)[0]
    elif target.role != ChannelRole.ADMIN:
        target.role = ChannelRole.ADMIN
        target.save(update_fields=["role"])
        publish_on_commit(
            events.member_event("member.updated", target), to=Audience.channel(channel.pk)
        )
    audit_record(
        action=AuditAction.CHANNEL_OWNER_CHANGED,
        actor=actor,
        target=channel,
        metadata={"owner_id": owner.pk, "owner": owner.username},
    )
    return target


@transaction.atomic
def membership_update_settings(
    *,
    user: User,
    channel_id: int,
    is_muted: bool | None = None,
    notification_level: str | None = None,
) -> Membership:
    """Change the user's own mute and notification settings for a channel."""
    _channel, membership = access_channel_read(user=user, channel_id=channel_id)
    if membership is None:
        raise Forbidden(_("You are not a member."), code="not_member")
    fields: list[str] = []
    if is_muted is not None:
        membership.is_muted = is_muted
        fields.append("is_muted")
    if notification_level is not None:
        if notification_level not in NotificationLevel.values:
            raise InvalidInput(_("Unknown notification level."), code="invalid_level")
        membership.notification_level = notification_level
        fields.append("notification_level")
    if fields:
        membership.save(update_fields=fields)
        # The user's other tabs show the new mute / notification state.
        publish_on_commit(
            {
                "type": "membership.updated",
                "channel_id": membership.channel_id,
                "is_muted": membership.is_muted,
                "notification_level": membership.notification_level,
            },
            to=Audience.users([user.pk]),
        )
    return membership


@transaction.atomic
def dm_open(*, user: User, user_ids: Iterable[int]) -> Channel:
    """Open (or find) the direct channel of `user` with `user_ids`: one per member set."""
    if not user.is_active:
        raise Forbidden(_("This account is deactivated."), code="account_deactivated")
    member_ids = set(user_ids) | {user.pk}
    if len(member_ids) > MAX_GROUP_DM_MEMBERS:
        raise InvalidInput(
            _("A group message can have at most %(n)d people.") % {"n": MAX_GROUP_DM_MEMBERS},
            code="too_many_members",
        )
    users = _active_users(member_ids)
    if user.is_guest:
        # Guests only see people they share a channel with (selectors.user_directory); the
        # same answer as for an unknown id, so that ids cannot be probed through DMs either.
        others = member_ids - {user.pk}
        visible = user_directory(user=user).filter(pk__in=others).values_list("pk", flat=True)
        if set(visible) != others:
            raise InvalidInput(_("Unknown or inactive user."), code="unknown_user")
    key = ",".join(str(uid) for uid in sorted(member_ids))
    channel = Channel.objects.filter(dm_key=key).first()
    if channel is not None:
        return channel
    kind = ChannelKind.DIRECT if len(member_ids) <= 2 else ChannelKind.GROUP
    try:
        with transaction.atomic():
            channel = Channel.objects.create(kind=kind, dm_key=key, created_by=user)
    except IntegrityError:
        # Opened concurrently by someone else; theirs is the one.
        return Channel.objects.get(dm_key=key)
    _add_members(channel, users, role=ChannelRole.MEMBER)
    return channel


# --- messages -----------------------------------------------------------------------------------


def _parse_client_msg_id(client_msg_id: object) -> uuid.UUID | None:
    if client_msg_id is None or client_msg_id == "":
        return None
    if isinstance(client_msg_id, uuid.UUID):
        return client_msg_id
    try:
        return uuid.UUID(str(client_msg_id))
    except ValueError:
        raise InvalidInput(
            _("client_msg_id must be a UUID."), code="invalid_client_msg_id"
        ) from None


def message_send(
    *,
    sender: User,
    channel_id: int,
    body: str,
    client_msg_id: object = None,
    thread_root_id: int | None = None,
    attachment_ids: Sequence[object] = (),
) -> SendResult:
    """Store a message and publish it after commit. Idempotent on (sender, client_msg_id).

    A resend with a known client_msg_id returns the stored message (`created=False`) and
    publishes nothing, so the client can retry blindly until it gets an ack.
    `attachment_ids` names the sender's own uploaded, unattached files; with files the text
    may be empty. `messages_send_batch` is the same for many messages in one transaction.
    """
    msg_uuid = _parse_client_msg_id(client_msg_id)
    if msg_uuid is not None:
        existing = _existing_send(sender=sender, client_msg_id=msg_uuid, channel_id=channel_id)
        if existing is not None:
            return SendResult(existing, created=False)
    body = _send_body(body, attachment_ids=attachment_ids)
    channel, membership = access_channel_post(user=sender, channel_id=channel_id)
    root: Message | None = None
    if thread_root_id is not None:
        root = (
            Message.objects.filter(pk=thread_root_id, channel_id=channel.pk)
            .only("id", "thread_root_id", "deleted_at")
            .first()
        )
        if root is None or root.deleted_at is not None:
            raise NotFound(_("No such thread."), code="thread_not_found")
        if root.thread_root_id is not None:  # replies to replies join the same thread
            root = Message.objects.only("id", "thread_root_id").get(pk=root.thread_root_id)
    rendered = render_message(body, resolve_usernames=_resolve_usernames)
    _check_mention_all(sender=sender, rendered=rendered)
    now = timezone.now()
    try:
        with transaction.atomic():
            attachments = (
                file_services.attachments_claim_for_message(
                    sender=sender, attachment_ids=attachment_ids
                )
                if attachment_ids
                else []
            )
            seq = _next_channel_seq(channel_id=channel.pk, now=now, new_message=True)
            message = _new_message(
                sender=sender,
                channel_id=channel.pk,
                seq=seq,
                client_msg_id=msg_uuid,
                body=body,
                rendered=rendered,
                thread_root=root,
                now=now,
            )
            message.save(force_insert=True)
            if rendered.mentioned_user_ids:
                Mention.objects.bulk_create(_mentions_of(message, rendered))
            if attachments:
                file_services.attachments_link_to_message(
                    attachments=attachments, message_id=message.pk
                )
            root_payload: events.ThreadRootPayload | None = None
            if root is not None:
                # The root changed too (its reply count): it shares this change's version so
                # a client catching up with ?after_seq=N receives it (see channel_history).
                Message.objects.filter(pk=root.pk).update(
                    reply_count=F("reply_count") + 1, last_reply_at=now, version=seq
                )
                root.refresh_from_db(fields=["reply_count"])
                root_payload = {
                    "id": root.pk,
                    "reply_count": root.reply_count,
                    "last_reply_at": now.isoformat(),
                }
            # The sender has read what they wrote.
            Membership.objects.filter(pk=membership.pk, last_read_seq__lt=seq).update(
                last_read_seq=seq
            )
            _publish_message_new(
                message,
                sender=sender,
                rendered=rendered,
                attachments=attachments,
                thread_root=root_payload,
            )
    except IntegrityError:
        if msg_uuid is not None:
            existing = _existing_send(sender=sender, client_msg_id=msg_uuid, channel_id=channel_id)
            if existing is not None:
                return SendResult(existing, created=False)
        raise
    return SendResult(message, created=True)


def _existing_send(*, sender: User, client_msg_id: uuid.UUID, channel_id: int) -> Message | None:
    existing = (
        Message.objects.select_related("sender")
        .filter(sender=sender, client_msg_id=client_msg_id)
        .first()
    )
    if existing is not None:
        _refuse_reuse_elsewhere(used_in=existing.channel_id, channel_id=channel_id)
    return existing


def _refuse_reuse_elsewhere(*, used_in: int, channel_id: int) -> None:
    """A client_msg_id already used by this sender belongs to the channel it was used in."""
    if used_in != channel_id:
        raise Conflict(
            _("This client_msg_id was already used in another channel."),
            code="client_msg_id_reused",
        )


def _send_body(body: object, *, attachment_ids: Sequence[object]) -> str:
    """The text to store: cleaned, or empty when attached files carry the message."""
    if attachment_ids and isinstance(body, str) and not body.strip():
        return ""
    return _clean_body(body)


def _check_mention_all(
    *, sender: User, rendered: RenderedMessage, org: OrganizationSettings | None = None
) -> None:
    """@all/@everyone/@channel need the organisation's permission.

    `org` is the settings row read once for a whole batch: a sender it allows is not checked
    again, a refusal is re-checked (and raised) by `access_org_action` itself.
    """
    if not rendered.mentions_everyone:
        return
    if org is None or not may_do(user=sender, action=OrgAction.MENTION_ALL, settings=org):
        access_org_action(user=sender, action=OrgAction.MENTION_ALL)


def _new_message(
    *,
    sender: User,
    channel_id: int,
    seq: int,
    client_msg_id: uuid.UUID | None,
    body: str,
    rendered: RenderedMessage,
    thread_root: Message | None,
    now: datetime,
) -> Message:
    """An unsaved new message; `seq` was taken from the channel in the caller's transaction."""
    return Message(
        channel_id=channel_id,
        seq=seq,
        version=seq,
        sender=sender,
        client_msg_id=client_msg_id,
        body=body,
        html=rendered.html,
        thread_root=thread_root,
        mentions_everyone=rendered.mentions_everyone,
        created_at=now,
    )


def _mentions_of(message: Message, rendered: RenderedMessage) -> list[Mention]:
    return [Mention(message=message, user_id=uid) for uid in rendered.mentioned_user_ids]


def _publish_message_new(
    message: Message,
    *,
    sender: User,
    rendered: RenderedMessage,
    attachments: Sequence[Attachment] = (),
    thread_root: events.ThreadRootPayload | None = None,
) -> None:
    """Publish `message.new` for a message created in the current transaction (after commit)."""
    event: dict[str, object] = {
        "type": "message.new",
        "channel_id": message.channel_id,
        "channel_seq": message.seq,
        "message": events.message_payload(
            message,
            sender=sender,
            mentioned_user_ids=rendered.mentioned_user_ids,
            attachments=attachments,
        ),
    }
    if thread_root is not None:
        event["thread_root"] = thread_root
    publish_on_commit(event, to=Audience.channel(message.channel_id))


# --- group commit of many sends (the WebSocket path) --------------------------------------------

# A superset of the @names `render_message` asks its resolver about (it also strips trailing
# dots); names it finds are looked up for the whole batch at once.
_MENTION_CANDIDATE_RE = re.compile(r"@([A-Za-z0-9_.-]+)")
# A larger batch is written as several transactions of this many: it bounds how long one holds
# its channel locks and the size of its statements (SQLite takes up to 32,766 parameters).
MAX_SEND_BATCH = 256
# At most this many @names are looked up ahead in one query; a batch that names more resolves
# the rest per message.
_PREFETCH_USERNAMES_MAX = 1000

SendKey = tuple[int, uuid.UUID]  # (sender id, client_msg_id): unique among stored messages


@dataclass(frozen=True, slots=True)
class SendRequest:
    """One `message_send` call of a batch; the same arguments."""

    sender: User
    channel_id: int
    body: str
    client_msg_id: object
    thread_root_id: int | None = None
    attachment_ids: Sequence[object] = ()


@dataclass(frozen=True, slots=True)
class _Resend:
    """A request of the batch that repeats the client_msg_id of an accepted earlier one."""

    of: _BatchedSend


@dataclass(slots=True)
class _BatchedSend:
    """A request of the batch that passed every check and gets its row in the shared INSERT."""

    request: SendRequest
    client_msg_id: uuid.UUID | None
    body: str
    membership: Membership
    rendered: RenderedMessage
    message: Message | None = None

    def new_message(self, *, seq: int, now: datetime) -> Message:
        """Its unsaved message, numbered `seq` in its channel."""
        return _new_message(
            sender=self.request.sender,
            channel_id=self.request.channel_id,
            seq=seq,
            client_msg_id=self.client_msg_id,
            body=self.body,
            rendered=self.rendered,
            thread_root=None,
            now=now,
        )


class _BatchUsernames:
    """Username resolver for the renders of one batch: every candidate @name of the batch's
    bodies is looked up at once (`prefetch_query`, sent with the batch's other look-ups);
    a body naming more than that resolves the rest when it is rendered."""

    def __init__(self, bodies: Iterable[str]) -> None:
        self._candidates = {
            match.group(1).rstrip(".").lower()
            for body in bodies
            for match in _MENTION_CANDIDATE_RE.finditer(body)
        }
        self._looked_up: set[str] = set()
        self._known: dict[str, MentionTarget] = {}

    def prefetch_query(self) -> tuple[str, list[str]]:
        """The query for every candidate (empty if none, or too many to look up at once)."""
        if len(self._candidates) > _PREFETCH_USERNAMES_MAX:
            return "", []
        return _usernames_query(self._candidates)

    def prefetched(self, rows: Iterable[Sequence[Any]]) -> None:
        """Take the rows of `prefetch_query`."""
        if self.prefetch_query()[0]:
            self._known.update(_mention_targets(rows))
            self._looked_up |= self._candidates

    def __call__(self, usernames: set[str]) -> Mapping[str, MentionTarget]:
        wanted = usernames - self._looked_up
        if wanted:
            self._known.update(_resolve_usernames(wanted))
            self._looked_up |= wanted
        return {name: self._known[name] for name in usernames if name in self._known}


class _SendBatch:
    """The checks of `message_send` for many requests, fed by a few shared look-ups.

    Requests are checked in order, so a resend of a request earlier in the same batch is its
    duplicate exactly as if the earlier one had been stored already.
    """

    def __init__(self, requests: Sequence[tuple[SendRequest, uuid.UUID | None]]) -> None:
        keys = [(request.sender.pk, msg_uuid) for request, msg_uuid in requests if msg_uuid]
        self._usernames = _BatchUsernames(
            request.body for request, _uuid in requests if isinstance(request.body, str)
        )
        # Stored keys, access, mentioned users: one round trip, prepared (fetch_all_prepared).
        stored_rows, access_rows, user_rows = fetch_all_prepared(
            [
                _stored_ids_query(keys),
                channel_post_access_query(
                    pairs=[(request.sender, request.channel_id) for request, _uuid in requests]
                ),
                self._usernames.prefetch_query(),
            ]
        )
        self._access = channel_post_access_from_rows(access_rows)
        self._usernames.prefetched(user_rows)
        self._stored: dict[SendKey, Message] = {}
        if stored_rows:  # resends: rare, and then loaded as message_send loads them
            self._stored = {
                (message.sender_id, message.client_msg_id): message
                for message in Message.objects.select_related("sender").filter(
                    pk__in=[pk for (pk,) in stored_rows]
                )
                if message.client_msg_id is not None
            }
        self._org: OrganizationSettings | None = None
        self._accepted: dict[SendKey, _BatchedSend] = {}
        self.sends: list[_BatchedSend] = []

    def check(
        self, request: SendRequest, msg_uuid: uuid.UUID | None
    ) -> SendResult | _BatchedSend | _Resend:
        """`message_send`'s checks, in its order: a stored (or earlier accepted) resend, or a
        new send accepted into the batch; raises the DomainError `message_send` would."""
        sender, channel_id = request.sender, request.channel_id
        key = (sender.pk, msg_uuid) if msg_uuid is not None else None
        if key is not None:
            stored = self._stored.get(key)
            if stored is not None:
                _refuse_reuse_elsewhere(used_in=stored.channel_id, channel_id=channel_id)
                return SendResult(stored, created=False)
            accepted = self._accepted.get(key)
            if accepted is not None:
                _refuse_reuse_elsewhere(used_in=accepted.request.channel_id, channel_id=channel_id)
                return _Resend(accepted)
        body = _send_body(request.body, attachment_ids=())
        _channel, membership = self._access.check(user=sender, channel_id=channel_id)
        rendered = render_message(body, resolve_usernames=self._usernames)
        if rendered.mentions_everyone and self._org is None:
            self._org = organization_settings()
        _check_mention_all(sender=sender, rendered=rendered, org=self._org)
        send = _BatchedSend(request, msg_uuid, body, membership, rendered)
        if key is not None:
            self._accepted[key] = send
        self.sends.append(send)
        return send

    def write(self) -> None:
        """Insert every accepted send in one transaction and publish them after its commit.

        However many channels and messages, a constant number of statements: on PostgreSQL
        one (`_write_in_one_statement`), elsewhere one UPDATE that takes every channel's new
        seqs (see `_take_channel_seqs`), one INSERT for all messages, one for all mentions,
        one UPDATE of the senders' read positions. Raises IntegrityError (a concurrent send
        with one of the keys; on PostgreSQL also a channel deleted meanwhile) or NotFound (a
        channel deleted meanwhile) with everything rolled back.
        """
        if connection.vendor == "postgresql":
            self._write_in_one_statement()
            return
        by_channel: dict[int, list[_BatchedSend]] = {}
        for send in self.sends:
            by_channel.setdefault(send.request.channel_id, []).append(send)
        now = timezone.now()
        with transaction.atomic():
            last_seqs = _take_channel_seqs(
                {channel_id: len(sends) for channel_id, sends in by_channel.items()}, now=now
            )
            for channel_id, channel_sends in by_channel.items():
                first_seq = last_seqs[channel_id] - len(channel_sends) + 1
                for seq, send in enumerate(channel_sends, start=first_seq):
                    send.message = send.new_message(seq=seq, now=now)
            messages = Message.objects.bulk_create([_message_of(send) for send in self.sends])
            mentions = [
                mention
                for send, message in zip(self.sends, messages, strict=True)
                for mention in _mentions_of(message, send.rendered)
            ]
            if mentions:
                Mention.objects.bulk_create(mentions)
            # The senders have read what they wrote: each membership up to its last new seq.
            _mark_read_up_to({send.membership.pk: _message_of(send).seq for send in self.sends})
            for send in self.sends:
                _publish_message_new(
                    _message_of(send), sender=send.request.sender, rendered=send.rendered
                )

    def _write_in_one_statement(self) -> None:
        """`write` on PostgreSQL: one statement (`_BATCH_WRITE_SQL`), so outside a transaction
        one round trip stores and commits the whole batch. Inside one (a caller's atomic
        block) it runs in a savepoint, so a refused batch leaves that transaction usable."""
        now = timezone.now()
        sends = self.sends
        rendered = [send.rendered for send in sends]
        params: dict[str, Any] = {
            "ord": list(range(len(sends))),
            "channel": [send.request.channel_id for send in sends],
            "sender": [send.request.sender.pk for send in sends],
            "membership": [send.membership.pk for send in sends],
            "client_msg_id": [send.client_msg_id for send in sends],
            "body": [send.body for send in sends],
            "html": [r.html for r in rendered],
            "everyone": [r.mentions_everyone for r in rendered],
            "mention_ord": [i for i, r in enumerate(rendered) for _ in r.mentioned_user_ids],
            "mention_user": [uid for r in rendered for uid in sorted(r.mentioned_user_ids)],
            "now": now,
        }
        sql = _BATCH_WRITE_SQL.format(
            channel=Channel._meta.db_table,
            message=Message._meta.db_table,
            mention=Mention._meta.db_table,
            membership=Membership._meta.db_table,
        )
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            # Prepared: its parse and plan cost PostgreSQL more than running it (0.43 ms of
            # planning per batch under load, docs/performance.md).
            with prepared_cursor() as cursor:
                cursor.execute(sql, params)
                stored = {int(ord_): (int(pk), int(seq)) for ord_, pk, seq in cursor.fetchall()}
            if len(stored) != len(sends):  # every row or none: the statement would have failed
                raise RuntimeError("the batch statement stored a partial batch")
            for index, send in enumerate(sends):
                pk, seq = stored[index]
                send.message = send.new_message(seq=seq, now=now)
                send.message.pk = pk
                send.message._state.adding = False
                send.message._state.db = connection.alias
                _publish_message_new(
                    send.message, sender=send.request.sender, rendered=send.rendered
                )


# Every accepted send of a batch in ONE statement (PostgreSQL): lock the channels in id order,
# take their seqs, insert the messages and their mentions, move the senders' read positions.
# Outside a transaction it commits on its own: one round trip for the whole write. A channel
# that vanished leaves its rows without a seq (NOT NULL: IntegrityError), like a concurrent
# send of one of the client_msg_ids (unique): the statement changes nothing and raises.
_BATCH_WRITE_SQL = """
WITH req AS (
    SELECT * FROM unnest(
        %(ord)s::int[], %(channel)s::bigint[], %(sender)s::bigint[], %(membership)s::bigint[],
        %(client_msg_id)s::uuid[], %(body)s::text[], %(html)s::text[], %(everyone)s::bool[]
    ) AS r(ord, channel_id, sender_id, membership_id, client_msg_id, body, html, everyone)
),
counts AS (SELECT channel_id AS id, count(*) AS n FROM req GROUP BY channel_id),
locked AS MATERIALIZED (
    SELECT c.id FROM {channel} c WHERE c.id IN (SELECT id FROM counts) ORDER BY c.id FOR UPDATE
),
taken AS (
    UPDATE {channel} c SET last_seq = c.last_seq + counts.n, last_message_at = %(now)s
    FROM counts JOIN locked ON locked.id = counts.id
    WHERE c.id = counts.id
    RETURNING c.id, c.last_seq
),
numbered AS (
    SELECT req.*, taken.last_seq
        - count(*) OVER (PARTITION BY req.channel_id)
        + row_number() OVER (PARTITION BY req.channel_id ORDER BY req.ord) AS seq
    FROM req LEFT JOIN taken ON taken.id = req.channel_id
),
inserted AS (
    INSERT INTO {message} (
        channel_id, seq, version, sender_id, client_msg_id, body, html, thread_root_id,
        reply_count, last_reply_at, mentions_everyone, created_at, edited_at, deleted_at
    )
    SELECT channel_id, seq, seq, sender_id, client_msg_id, body, html, NULL,
        0, NULL, everyone, %(now)s, NULL, NULL
    FROM numbered ORDER BY ord
    RETURNING id, channel_id, seq
),
mentioned AS (
    INSERT INTO {mention} (message_id, user_id)
    SELECT inserted.id, named.user_id
    FROM unnest(%(mention_ord)s::int[], %(mention_user)s::bigint[]) AS named(ord, user_id)
    JOIN numbered ON numbered.ord = named.ord
    JOIN inserted ON inserted.channel_id = numbered.channel_id AND inserted.seq = numbered.seq
),
read AS (
    UPDATE {membership} m SET last_read_seq = sent.seq
    FROM (SELECT membership_id, max(seq) AS seq FROM numbered GROUP BY membership_id) sent
    WHERE m.id = sent.membership_id AND m.last_read_seq < sent.seq
)
SELECT numbered.ord, inserted.id, inserted.seq
FROM inserted JOIN numbered
    ON numbered.channel_id = inserted.channel_id AND numbered.seq = inserted.seq
"""


def _stored_ids_query(keys: Sequence[SendKey]) -> tuple[str, list[Any]]:
    """Ids of the stored messages with one of these (sender, client_msg_id) keys (an empty
    query for no keys); by hand: the ORM spent more CPU building it than the database running
    it."""
    if not keys:
        return "", []
    prep_uuid = Message._meta.get_field("client_msg_id").get_db_prep_value
    pairs = [(sender, prep_uuid(key, connection)) for sender, key in sorted(set(keys))]
    wanted, params = rows_table(pairs, ("bigint", "uuid"))  # on PostgreSQL: prepared
    sql = _STORED_IDS_SQL if connection.vendor == "postgresql" else _STORED_IDS_JOIN_SQL
    return sql.format(wanted=wanted, message=Message._meta.db_table), params


# One look-up in the unique index per key, as a LATERAL subquery with LIMIT 1 (a key is
# unique; the LIMIT keeps PostgreSQL from flattening the subquery into a join). Prepared with
# a generic plan that lives as long as the connection: as a plain join, a plan made while the
# message table was small or never analyzed (a fresh install; a restored backup) hash-joined a
# sequential scan of every message, on every send batch, until the next ANALYZE. Seed case 1
# with autovacuum off: p99 ack 74 ms in the first 30 s, 1,075 ms after 5 minutes.
_STORED_IDS_SQL = """
WITH wanted(sender_id, client_msg_id) AS ({wanted})
SELECT m.id FROM wanted CROSS JOIN LATERAL (
    SELECT id FROM {message}
    WHERE sender_id = wanted.sender_id AND client_msg_id = wanted.client_msg_id LIMIT 1
) m
"""
_STORED_IDS_JOIN_SQL = """
WITH wanted(sender_id, client_msg_id) AS ({wanted})
SELECT m.id FROM wanted JOIN {message} m
    ON m.sender_id = wanted.sender_id AND m.client_msg_id = wanted.client_msg_id
"""


def _values_table(
    name: str, columns: str, rows: Sequence[tuple[int, int]]
) -> tuple[str, list[int]]:
    """`WITH name(columns) AS (VALUES ...)` over integer pairs, and its parameters.

    Runs on PostgreSQL and on SQLite (>= 3.33 for UPDATE ... FROM, 3.35 for RETURNING).
    """
    placeholders = ", ".join(["(%s, %s)"] * len(rows))
    return f"WITH {name}({columns}) AS (VALUES {placeholders}) ", [v for row in rows for v in row]


def _take_channel_seqs(counts: Mapping[int, int], *, now: datetime) -> dict[int, int]:
    """Take `counts[channel_id]` new-message seqs in each channel; returns each one's last seq.

    The caller numbers a channel's messages `last - count + 1 .. last`, so seq stays dense.
    Locks the channel rows until commit, like `_next_channel_seq`. On PostgreSQL they are first
    locked in id order (the order every batch uses, so two batches cannot deadlock), then one
    UPDATE takes all the seqs; SQLite serialises writers anyway and needs only the UPDATE.
    Raises NotFound if a channel no longer exists (caller's transaction must roll back).
    Precondition: inside `transaction.atomic`.
    """
    table = Channel._meta.db_table
    channel_ids = sorted(counts)
    with_counts, params = _values_table("taken", "id, n", [(i, counts[i]) for i in channel_ids])
    with connection.cursor() as cursor:
        if connection.features.has_select_for_update:
            in_list = ", ".join(["%s"] * len(channel_ids))
            cursor.execute(
                f"SELECT id FROM {table} WHERE id IN ({in_list}) ORDER BY id FOR UPDATE",  # noqa: S608
                channel_ids,
            )
        cursor.execute(
            f"{with_counts}UPDATE {table} SET last_seq = {table}.last_seq + taken.n, "  # noqa: S608
            f"last_message_at = %s FROM taken WHERE {table}.id = taken.id "
            f"RETURNING {table}.id, {table}.last_seq",
            [*params, now],
        )
        last_seqs = {int(channel_id): int(last_seq) for channel_id, last_seq in cursor.fetchall()}
    if len(last_seqs) != len(channel_ids):
        raise NotFound(_("No such channel."), code="channel_not_found")
    return last_seqs


def _mark_read_up_to(last_read: Mapping[int, int]) -> None:
    """Raise each membership's last_read_seq to the given seq (never lower it): one UPDATE."""
    table = Membership._meta.db_table
    with_seqs, params = _values_table("sent", "id, seq", sorted(last_read.items()))
    with connection.cursor() as cursor:
        cursor.execute(
            f"{with_seqs}UPDATE {table} SET last_read_seq = sent.seq FROM sent "  # noqa: S608
            f"WHERE {table}.id = sent.id AND {table}.last_read_seq < sent.seq",
            params,
        )


def _message_of(send: _BatchedSend) -> Message:
    if send.message is None:
        raise RuntimeError("_SendBatch.write assigns every accepted send its message first")
    return send.message


def _sends_alone(requests: Sequence[SendRequest], keys: Sequence[SendKey | None]) -> set[int]:
    """Indexes of the requests that go through `message_send` one by one after the batch.

    Thread replies and messages with files take that path (they lock and update more rows),
    and so does any later request with the same key as one of them, which must see its
    outcome first.
    """
    alone: set[int] = set()
    alone_keys: set[SendKey] = set()
    for index, (request, key) in enumerate(zip(requests, keys, strict=True)):
        if request.thread_root_id is not None or request.attachment_ids or key in alone_keys:
            alone.add(index)
            if key is not None:
                alone_keys.add(key)
    return alone


def _in_language_of(user: User) -> translation.override:
    """Domain errors are translated when raised: raise each request's in its sender's language."""
    return translation.override(user.language or settings.LANGUAGE_CODE)


class _SendersLanguages:
    """`_in_language_of` for the requests of a batch in turn, inside one `translation.override`
    that restores the caller's language at the end: the language is switched only where it
    changes from one sender to the next (two overrides per request were 5 % of a busy
    server's samples)."""

    def __enter__(self) -> _SendersLanguages:
        self._current = translation.get_language()
        self._restore = translation.override(self._current)
        self._restore.__enter__()
        return self

    def use(self, user: User) -> None:
        language = user.language or settings.LANGUAGE_CODE
        if language != self._current:
            translation.activate(language)
            self._current = language

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._restore.__exit__(exc_type, exc, traceback)


def _send_alone(request: SendRequest) -> SendResult | DomainError:
    with _in_language_of(request.sender):
        try:
            return message_send(
                sender=request.sender,
                channel_id=request.channel_id,
                body=request.body,
                client_msg_id=request.client_msg_id,
                thread_root_id=request.thread_root_id,
                attachment_ids=request.attachment_ids,
            )
        except DomainError as error:
            return error


def messages_send_batch(*, requests: Sequence[SendRequest]) -> list[SendResult | DomainError]:
    """Results in request order; equivalent to message_send(...) for each request in order,
    but the plain ones share one transaction (one COMMIT).

    Each outcome is what `message_send` returns or raises for that request, with the error
    message in the sender's language; a refused request does not stop the others. Plain sends
    (no thread, no files) cost a constant number of statements for the whole batch (see
    `_SendBatch.write`). Thread replies and messages with files, and later resends of their
    client_msg_id, go through `message_send` one by one after the batch has committed: their
    seq may therefore come after that of plain messages that followed them in the batch.
    If the shared INSERT meets a concurrent send of one of its client_msg_ids, or a channel
    vanishes, the batch is rolled back and every request is sent one by one instead.
    """
    if len(requests) > MAX_SEND_BATCH:
        return [
            outcome
            for start in range(0, len(requests), MAX_SEND_BATCH)
            for outcome in messages_send_batch(requests=requests[start : start + MAX_SEND_BATCH])
        ]
    outcomes: list[SendResult | DomainError | None] = [None] * len(requests)
    keys: list[SendKey | None] = []
    uuids: list[uuid.UUID | None] = []
    with _SendersLanguages() as languages:
        for index, request in enumerate(requests):
            msg_uuid: uuid.UUID | None = None
            languages.use(request.sender)
            try:
                msg_uuid = _parse_client_msg_id(request.client_msg_id)
            except DomainError as error:
                outcomes[index] = error
            uuids.append(msg_uuid)
            keys.append((request.sender.pk, msg_uuid) if msg_uuid is not None else None)
    alone = _sends_alone(requests, keys)
    batched = [
        index for index in range(len(requests)) if index not in alone and outcomes[index] is None
    ]
    duplicates: dict[int, _BatchedSend] = {}
    accepted: dict[int, _BatchedSend] = {}
    if batched:
        batch = _SendBatch([(requests[index], uuids[index]) for index in batched])
        with _SendersLanguages() as languages:
            checks: list[tuple[int, SendResult | _BatchedSend | _Resend]] = []
            for index in batched:
                request = requests[index]
                languages.use(request.sender)
                try:
                    checks.append((index, batch.check(request, uuids[index])))
                except DomainError as error:
                    outcomes[index] = error
        for index, checked in checks:
            if isinstance(checked, SendResult):
                outcomes[index] = checked
            elif isinstance(checked, _Resend):
                duplicates[index] = checked.of
            else:
                accepted[index] = checked
        if batch.sends:
            try:
                batch.write()
            except (IntegrityError, NotFound):
                return [_send_alone(request) for request in requests]
    for index, send in accepted.items():
        outcomes[index] = SendResult(_message_of(send), created=True)
    for index, send in duplicates.items():
        outcomes[index] = SendResult(_message_of(send), created=False)
    for index in sorted(alone):
        if outcomes[index] is None:
            outcomes[index] = _send_alone(requests[index])
    results = [outcome for outcome in outcomes if outcome is not None]
    if len(results) != len(requests):
        raise RuntimeError("messages_send_batch left a request without an outcome")
    return results


@transaction.atomic
def message_edit(*, user: User, message_id: int, body: str) -> Message:
    """Replace a message's text (author only); mentions are re-parsed."""
    message = access_message_edit(user=user, message_id=message_id)
    body = _clean_body(body)
    if body == message.body:
        return message
    rendered = render_message(body, resolve_usernames=_resolve_usernames)
    if rendered.mentions_everyone and not message.mentions_everyone:
        access_org_action(user=user, action=OrgAction.MENTION_ALL)
    seq = _next_channel_seq(channel_id=message.channel_id, now=timezone.now(), new_message=False)
    message.body = body
    message.html = rendered.html
    message.mentions_everyone = rendered.mentions_everyone
    message.edited_at = timezone.now()
    message.version = seq
    message.save(update_fields=["body", "html", "mentions_everyone", "edited_at", "version"])
    Mention.objects.filter(message=message).delete()
    Mention.objects.bulk_create(
        [Mention(message=message, user_id=uid) for uid in rendered.mentioned_user_ids]
    )
    publish_on_commit(
        {
            "type": "message.updated",
            "channel_id": message.channel_id,
            "channel_seq": seq,
            "message": _message_payload_fresh(message),
        },
        to=Audience.channel(message.channel_id),
    )
    return message


@transaction.atomic
def message_delete(*, user: User, message_id: int) -> Message:
    """Soft-delete a message: the tombstone keeps id and seq, the text and reactions go."""
    message = access_message_delete(user=user, message_id=message_id)
    seq = _next_channel_seq(channel_id=message.channel_id, now=timezone.now(), new_message=False)
    message.deleted_at = timezone.now()
    message.version = seq
    message.body = ""
    message.html = ""
    message.save(update_fields=["deleted_at", "version", "body", "html"])
    Reaction.objects.filter(message=message).delete()
    Mention.objects.filter(message=message).delete()
    file_services.attachments_delete_for_message(message_id=message.pk)
    event: dict[str, object] = {
        "type": "message.deleted",
        "channel_id": message.channel_id,
        "channel_seq": seq,
        "message": events.message_payload(message),
    }
    if message.thread_root_id is not None:
        # As in message_send: the root's reply count changed in this change of the channel.
        Message.objects.filter(pk=message.thread_root_id, reply_count__gt=0).update(
            reply_count=F("reply_count") - 1, version=seq
        )
        root = Message.objects.only("id", "reply_count", "last_reply_at").get(
            pk=message.thread_root_id
        )
        event["thread_root"] = {
            "id": root.pk,
            "reply_count": root.reply_count,
            "last_reply_at": events.iso(root.last_reply_at),
        }
    publish_on_commit(event, to=Audience.channel(message.channel_id))
    return message


@transaction.atomic
def message_attachments_changed(*, message_id: int) -> None:
    """A file of the message changed state (scanned, released, deleted): new version, pushed.

    Called by apps.files.services; like an edit it takes the channel's next sequence value, so
    a client catching up with ?after_seq=N sees the attachment's new state.
    """
    message = Message.objects.select_related("sender").filter(pk=message_id).first()
    if message is None or message.deleted_at is not None:
        return
    seq = _next_channel_seq(channel_id=message.channel_id, now=timezone.now(), new_message=False)
    Message.objects.filter(pk=message.pk).update(version=seq)
    message.version = seq
    publish_on_commit(
        {
            "type": "message.updated",
            "channel_id": message.channel_id,
            "channel_seq": seq,
            "message": _message_payload_fresh(message),
        },
        to=Audience.channel(message.channel_id),
    )


def _clean_emoji(emoji: object) -> str:
    if not isinstance(emoji, str) or not emoji.strip() or len(emoji) > MAX_EMOJI_LENGTH:
        raise InvalidInput(_("Not a valid emoji."), code="invalid_emoji")
    return emoji.strip()


@transaction.atomic
def reaction_add(*, user: User, message_id: int, emoji: str) -> Message:
    """React to a message; adding the same reaction twice is a no-op."""
    emoji = _clean_emoji(emoji)
    message = access_message_react(user=user, message_id=message_id)
    if Reaction.objects.filter(message=message, user=user, emoji=emoji).exists():
        return message
    seq = _next_channel_seq(channel_id=message.channel_id, now=timezone.now(), new_message=False)
    Reaction.objects.create(message=message, user=user, emoji=emoji)
    _publish_reaction("reaction.added", message=message, user=user, emoji=emoji, seq=seq)
    return message


@transaction.atomic
def reaction_remove(*, user: User, message_id: int, emoji: str) -> Message:
    """Take back one's own reaction; removing an absent reaction is a no-op."""
    emoji = _clean_emoji(emoji)
    message = access_message_react(user=user, message_id=message_id)
    if not Reaction.objects.filter(message=message, user=user, emoji=emoji).exists():
        return message
    seq = _next_channel_seq(channel_id=message.channel_id, now=timezone.now(), new_message=False)
    Reaction.objects.filter(message=message, user=user, emoji=emoji).delete()
    _publish_reaction("reaction.removed", message=message, user=user, emoji=emoji, seq=seq)
    return message


def _publish_reaction(kind: str, *, message: Message, user: User, emoji: str, seq: int) -> None:
    Message.objects.filter(pk=message.pk).update(version=seq)
    message.version = seq
    reactions = events.reactions_payload(Reaction.objects.filter(message=message))
    publish_on_commit(
        {
            "type": kind,
            "channel_id": message.channel_id,
            "channel_seq": seq,
            "message_id": message.pk,
            "user_id": user.pk,
            "emoji": emoji,
            "reactions": reactions,
        },
        to=Audience.channel(message.channel_id),
    )


# --- read state, typing -------------------------------------------------------------------------


@transaction.atomic
def read_mark(*, user: User, channel_id: int, seq: int) -> int:
    """Move the user's read position forward to `seq` (never backward); tell their other tabs."""
    channel, membership = access_channel_read(user=user, channel_id=channel_id)
    if membership is None:
        raise Forbidden(_("You are not a member."), code="not_member")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise InvalidInput(_("seq must be a non-negative integer."), code="invalid_seq")
    seq = min(seq, channel.last_seq)
    if seq <= membership.last_read_seq:
        return membership.last_read_seq
    Membership.objects.filter(pk=membership.pk, last_read_seq__lt=seq).update(last_read_seq=seq)
    publish_on_commit(
        {"type": "read", "channel_id": channel.pk, "last_read_seq": seq},
        to=Audience.users([user.pk]),
    )
    return seq


def typing_notify(*, user: User, channel_id: int, thread_root_id: int | None = None) -> None:
    """Tell the channel that `user` is typing. Ephemeral: nothing is stored."""
    channel, _membership = access_channel_post(user=user, channel_id=channel_id)
    publish_on_commit(
        {
            "type": "typing",
            "channel_id": channel.pk,
            "user_id": user.pk,
            "thread_root_id": thread_root_id,
        },
        to=Audience.channel(channel.pk),
    )


# --- presence -----------------------------------------------------------------------------------


def presence_update(*, user: User, connection_id: str, state: str) -> str:
    """Record one tab's state ("online" or "away"); publish when the user's status changes."""
    from apps.chat import presence

    if state not in presence.CONNECTION_STATES:
        raise InvalidInput(_("State must be online or away."), code="invalid_presence")
    before, after = presence.presence_store().set(user.pk, connection_id, state)
    if after != before:
        _publish_presence(user.pk, after)
    return after


def presence_keep_alive(*, entries: list[tuple[int, str, str]]) -> None:
    """Extend open tabs' presence entries, (user id, connection id, state) each, in one go.

    Only the expiry moves: a tab's state changes through presence_update, which publishes.
    """
    from apps.chat import presence

    if entries:
        presence.presence_store().keep_alive(entries)


def presence_disconnect(*, user: User, connection_id: str) -> str:
    """Forget a closed tab; the user goes offline when it was their last one."""
    from apps.chat import presence

    before, after = presence.presence_store().remove(user.pk, connection_id)
    if after != before:
        _publish_presence(user.pk, after)
    return after


def _publish_presence(user_id: int, status: str) -> None:
    publish_on_commit(
        {"type": "presence", "user_id": user_id, "status": status},
        to=Audience.presence_watchers(user_id),
    )
