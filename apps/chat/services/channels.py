"""Writes on channels and memberships: create, update, archive, join, leave, invite,
roles, ownership, member settings, direct messages."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from apps.accounts.audit import AuditAction, audit_record
from apps.accounts.models import User
from apps.accounts.permissions import OrgAction, access_org_action
from apps.chat import events
from apps.chat.models import (
    NAMED_KINDS,
    Channel,
    ChannelKind,
    ChannelRole,
    Membership,
    NotificationLevel,
)
from apps.chat.permissions import (
    access_channel_manage,
    access_channel_post,
    access_channel_read,
)
from apps.chat.selectors import user_directory
from apps.chat.services._common import (
    MAX_GROUP_DM_MEMBERS,
    _active_users,
    _add_members,
    _clean_name,
    _name_taken,
    _publish_channel_updated,
    _remove_member,
)
from apps.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from apps.core.events import Audience, publish_on_commit

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
def channel_add_bot(*, actor: User, channel_id: int, bot: User) -> Membership:
    """Bring a bot into a conversation `actor` may post in, so it can answer there.

    Asking a bot (`@assistant`) invites it: the member list shows it, like any member. Being
    a member gives the bot nothing to read on anyone's behalf (the assistant retrieves with
    the asker's permissions). Idempotent: returns the existing membership.
    """
    if not bot.is_bot or not bot.is_active:
        raise InvalidInput(_("Only an active bot can be added this way."), code="not_a_bot")
    channel, _membership = access_channel_post(user=actor, channel_id=channel_id)
    existing = Membership.objects.filter(channel=channel, user=bot).first()
    if existing is not None:
        return existing
    return _add_members(channel, [bot], role=ChannelRole.MEMBER)[0]


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
