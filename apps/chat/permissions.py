"""`access_*`: fetch-and-check in one step, shared by REST, WebSocket and pages.

Private channels a user cannot see answer `not_found`, never `forbidden`, so their existence
does not leak. Every function takes the acting user first and raises a DomainError.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple, cast

from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.chat import queries
from apps.chat.models import Channel, ChannelKind, ChannelRole, Membership, Message
from apps.core.errors import Forbidden, NotAuthenticated, NotFound
from apps.core.runtime.sqlrows import fetch_all_together, instances


def _require_active(user: User) -> None:
    if not user.is_authenticated:
        raise NotAuthenticated()
    if not user.is_active:
        raise Forbidden(_("This account is deactivated."), code="account_deactivated")


def access_search(*, user: User) -> None:
    """Any active user may search; what they find is limited to what they may read."""
    _require_active(user)


def _channel_not_found() -> NotFound:
    return NotFound(_("No such channel."), code="channel_not_found")


def access_channel_read(*, user: User, channel_id: int) -> tuple[Channel, Membership | None]:
    """Channel the user may read: a member, or a non-guest looking at a public channel."""
    _require_active(user)
    membership = (
        Membership.objects.select_related("channel")
        .filter(user=user, channel_id=channel_id)
        .first()
    )
    if membership is not None:
        return membership.channel, membership
    return _readable_without_membership(user, Channel.objects.filter(pk=channel_id).first()), None


class ChannelReadPosition(NamedTuple):
    """What the history page needs of a channel the user may read (no model instance)."""

    channel_id: int
    last_seq: int
    # The channel row's creation time, as the database driver returns it: with the id it names
    # this channel and no other, even where a test database reuses ids after a rollback.
    created_at: object


def access_channel_read_position(*, user: User, channel_id: int) -> ChannelReadPosition:
    """`access_channel_read` in one hand-written query: refuses exactly whom it refuses (with
    the same errors) and answers the channel's id, `last_seq` and creation time."""
    _require_active(user)
    row = queries.channel_read_position_row(user_id=user.pk, channel_id=channel_id)
    if row is None:
        raise _channel_not_found()
    kind, last_seq, created_at, is_member = row
    if not is_member and (kind != ChannelKind.PUBLIC or user.is_guest):
        raise _channel_not_found()
    return ChannelReadPosition(channel_id=channel_id, last_seq=int(last_seq), created_at=created_at)


def _readable_without_membership(user: User, channel: Channel | None) -> Channel:
    """A channel a non-member may read: a public one, unless the user is a guest."""
    if channel is None or channel.kind != ChannelKind.PUBLIC or user.is_guest:
        raise _channel_not_found()
    return channel


def access_channel_participate(*, user: User, channel_id: int) -> tuple[Channel, Membership]:
    """Channel the user may react and type in: a member of a channel that is not archived."""
    channel, membership = access_channel_read(user=user, channel_id=channel_id)
    return _check_participate(channel, membership)


def _check_participate(
    channel: Channel, membership: Membership | None
) -> tuple[Channel, Membership]:
    if membership is None:
        raise Forbidden(_("Join the channel to post in it."), code="not_member")
    if channel.is_archived:
        raise Forbidden(_("This channel is archived."), code="channel_archived")
    return channel, membership


def access_channel_post(*, user: User, channel_id: int) -> tuple[Channel, Membership]:
    """Channel the user may post in: participate, and in announcement channels be its admin."""
    channel, membership = access_channel_participate(user=user, channel_id=channel_id)
    return _check_post(channel, membership)


def _check_post(channel: Channel, membership: Membership) -> tuple[Channel, Membership]:
    if channel.is_announcement and membership.role != ChannelRole.ADMIN:
        raise Forbidden(
            _("Only channel administrators post in this announcement channel."),
            code="announcement_channel",
        )
    return channel, membership


class ChannelPostAccess:
    """`access_channel_post` for many (user, channel) pairs, answered from rows fetched at once.

    Built by `access_channel_post_batch`; `check` raises exactly what `access_channel_post`
    would have raised at fetch time (call it inside the sender's `translation.override`: the
    error messages are translated when raised).
    """

    def __init__(
        self,
        memberships: Mapping[tuple[int, int], Membership],
        channels_of_non_members: Mapping[int, Channel],
    ) -> None:
        self._memberships = memberships
        self._channels_of_non_members = channels_of_non_members

    def check(self, *, user: User, channel_id: int) -> tuple[Channel, Membership]:
        _require_active(user)
        membership = self._memberships.get((user.pk, channel_id))
        if membership is None:  # readable or not, _check_participate refuses a non-member
            channel = _readable_without_membership(
                user, self._channels_of_non_members.get(channel_id)
            )
        else:
            channel = membership.channel
        return _check_post(*_check_participate(channel, membership))


def access_channel_post_batch(*, pairs: Iterable[tuple[User, int]]) -> ChannelPostAccess:
    """Fetch what `access_channel_post` needs for every (user, channel id) pair: one query."""
    [rows] = fetch_all_together([channel_post_access_query(pairs=pairs)])
    return channel_post_access_from_rows(rows)


def channel_post_access_query(*, pairs: Iterable[tuple[User, int]]) -> tuple[str, list[Any]]:
    """The query of `access_channel_post_batch` (empty without pairs), for callers that send
    it together with others: `queries.channel_post_access_query`."""
    return queries.channel_post_access_query(
        pairs=((user.pk, channel_id) for user, channel_id in pairs)
    )


def channel_post_access_from_rows(rows: Iterable[Sequence[Any]]) -> ChannelPostAccess:
    """`access_channel_post_batch`'s answer from the rows of `channel_post_access_query`."""
    memberships: dict[tuple[int, int], Membership] = {}
    channels_of_non_members: dict[int, Channel] = {}
    for row in instances(rows, (Channel, Membership)):
        channel, membership = cast(Channel, row[0]), cast(Membership, row[1])
        if membership.pk is None:
            channels_of_non_members[channel.pk] = channel
        else:
            membership.channel = channel
            memberships[(membership.user_id, channel.pk)] = membership
    return ChannelPostAccess(memberships, channels_of_non_members)


def can_manage_channel(*, user: User, channel: Channel, membership: Membership | None) -> bool:
    if channel.kind not in (ChannelKind.PUBLIC, ChannelKind.PRIVATE):
        return False
    if user.is_org_admin and (channel.kind == ChannelKind.PUBLIC or membership is not None):
        return True
    return membership is not None and membership.role == ChannelRole.ADMIN


def access_channel_manage(*, user: User, channel_id: int) -> tuple[Channel, Membership | None]:
    """Channel whose settings and members the user may change: channel admins, org admins."""
    channel, membership = access_channel_read(user=user, channel_id=channel_id)
    if channel.is_direct:
        raise Forbidden(_("Direct messages have no settings to manage."), code="direct_channel")
    if not can_manage_channel(user=user, channel=channel, membership=membership):
        raise Forbidden(_("Only channel administrators can do this."), code="not_channel_admin")
    return channel, membership


def access_message_read(*, user: User, message_id: int) -> tuple[Message, Membership | None]:
    """Message in a channel the user may read."""
    _require_active(user)
    message = Message.objects.select_related("channel", "sender").filter(pk=message_id).first()
    if message is None:
        raise NotFound(_("No such message."), code="message_not_found")
    try:
        _channel, membership = access_channel_read(user=user, channel_id=message.channel_id)
    except NotFound:
        raise NotFound(_("No such message."), code="message_not_found") from None
    return message, membership


def access_message_edit(*, user: User, message_id: int) -> Message:
    """Message the user may edit: their own, not deleted, in a channel they still post in."""
    message, _membership = access_message_read(user=user, message_id=message_id)
    if message.sender_id != user.pk:
        raise Forbidden(_("You can only edit your own messages."), code="not_author")
    if message.deleted_at is not None:
        raise NotFound(_("This message was deleted."), code="message_deleted")
    access_channel_post(user=user, channel_id=message.channel_id)
    return message


def access_message_delete(*, user: User, message_id: int) -> Message:
    """Message the user may delete: the author, a channel admin or an org admin."""
    message, membership = access_message_read(user=user, message_id=message_id)
    if message.deleted_at is not None:
        raise NotFound(_("This message was deleted."), code="message_deleted")
    if message.channel.is_archived:
        raise Forbidden(_("This channel is archived."), code="channel_archived")
    is_author = message.sender_id == user.pk and membership is not None
    if not is_author and not can_manage_channel(
        user=user, channel=message.channel, membership=membership
    ):
        raise Forbidden(_("You cannot delete this message."), code="not_author")
    return message


def access_message_react(*, user: User, message_id: int) -> Message:
    """Message the user may react to: a live message in a channel they participate in."""
    message, _membership = access_message_read(user=user, message_id=message_id)
    if message.deleted_at is not None:
        raise NotFound(_("This message was deleted."), code="message_deleted")
    access_channel_participate(user=user, channel_id=message.channel_id)
    return message


def access_message_pin(*, user: User, message_id: int) -> Message:
    """Message the user may pin to its channel or unpin: a live message in a channel they may
    post in (members; in announcement channels its administrators; guests where they are
    members, as for posting)."""
    message, _membership = access_message_read(user=user, message_id=message_id)
    if message.deleted_at is not None:
        raise NotFound(_("This message was deleted."), code="message_deleted")
    access_channel_post(user=user, channel_id=message.channel_id)
    return message
