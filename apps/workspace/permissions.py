"""`access_*` and rules of the workplace: who sets default channels, which channels an
inviter may choose for an invitation. Shared by REST, pages and the admin."""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import Q
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.accounts.permissions import OrgAction, may_do
from apps.chat.models import NAMED_KINDS, Channel, ChannelKind, Membership
from apps.chat.permissions import can_manage_channel
from apps.core.errors import Forbidden, InvalidInput, NotAuthenticated, NotFound
from apps.core.features import access_feature
from apps.workspace.models import Reminder

# Reminders ship behind this flag (apps/workspace/reminders.py).
REMINDERS_FLAG = "workplace_reminders"


def access_workspace_admin(*, user: User) -> None:
    """Organisation administrators and the owner manage the workplace settings."""
    if not user.is_authenticated:
        raise NotAuthenticated()
    if not user.is_active or not user.is_org_admin:
        raise Forbidden(
            _("Only administrators change the workplace settings."), code="not_org_admin"
        )


def channels_user_may_add_people_to(*, user: User) -> list[Channel]:
    """Active named channels `user` may add people to: chat's `channel_invite` rule (channel
    admins; members of public channels; organisation admins on public channels), within
    the organisation's "who may add people to channels" setting. Sorted by name."""
    if not user.is_active or not may_do(user=user, action=OrgAction.INVITE):
        return []
    memberships = {
        m.channel_id: m
        for m in Membership.objects.filter(
            user=user, channel__kind__in=NAMED_KINDS, channel__is_archived=False
        )
    }
    visible = Q(pk__in=list(memberships))
    if user.is_org_admin:
        visible |= Q(kind=ChannelKind.PUBLIC)
    channels = Channel.objects.filter(visible, kind__in=NAMED_KINDS, is_archived=False)
    allowed = []
    for channel in channels.order_by("name"):
        membership = memberships.get(channel.pk)
        manages = can_manage_channel(user=user, channel=channel, membership=membership)
        member_of_public = channel.kind == ChannelKind.PUBLIC and membership is not None
        if manages or member_of_public:
            allowed.append(channel)
    return allowed


def channel_label(channel: Channel) -> str:
    return f"🔒 {channel.name}" if channel.kind == ChannelKind.PRIVATE else f"#{channel.name}"


class InvitationChannelRules:
    """apps.accounts.invitations.InvitationChannels: registered in WorkspaceConfig.ready()."""

    def choices(self, *, actor: User) -> list[tuple[int, str]]:
        return [(c.pk, channel_label(c)) for c in channels_user_may_add_people_to(user=actor)]

    def check(self, *, actor: User, channel_ids: Sequence[int]) -> list[int]:
        wanted = list(dict.fromkeys(int(pk) for pk in channel_ids))
        allowed = {c.pk for c in channels_user_may_add_people_to(user=actor)}
        refused = [pk for pk in wanted if pk not in allowed]
        if refused:
            # Unknown and not allowed answer alike, so that private channels cannot be probed.
            raise InvalidInput(
                _("You cannot add people to some of the chosen channels."),
                code="invalid_channels",
                details={"channel_ids": refused},
            )
        return wanted


def access_reminder(*, user: User, reminder_id: int) -> Reminder:
    """My own reminder, still pending, locked for the caller's transaction; anyone else's
    answers like one that does not exist."""
    access_feature(user=user, name=REMINDERS_FLAG)
    reminder = (
        Reminder.objects.select_for_update()
        .filter(pk=reminder_id, user=user, delivered_at__isnull=True)
        .first()
    )
    if reminder is None:
        raise NotFound(_("No such reminder."), code="reminder_not_found")
    return reminder
