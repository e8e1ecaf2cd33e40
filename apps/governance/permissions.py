"""Who may set retention (organisation administrators and the owner) and who manages legal
holds (compliance officers: `governance.manage_legal_hold`, and the owner). REST, the admin
and the services call the same checks."""

from __future__ import annotations

from django.utils.translation import gettext as _

from apps.accounts.models import Role, User
from apps.chat.models import Channel
from apps.chat.permissions import access_channel_read
from apps.core.errors import Forbidden, NotAuthenticated, NotFound

LEGAL_HOLD_PERMISSION = "governance.manage_legal_hold"


def _require_active(user: User) -> None:
    if not user.is_authenticated:
        raise NotAuthenticated()
    if not user.is_active:
        raise Forbidden(_("This account is deactivated."), code="account_deactivated")


def access_retention_manage(*, user: User) -> None:
    """Organisation administrators and the owner set retention policies."""
    _require_active(user)
    if not user.is_org_admin:
        raise Forbidden(_("Only administrators set retention policies."), code="not_org_admin")


def access_channel_retention_manage(*, user: User, channel_id: int) -> Channel:
    """A channel whose retention `user` may set: any channel, for an organisation admin."""
    access_retention_manage(user=user)
    channel = Channel.objects.filter(pk=channel_id).first()
    if channel is None:
        raise NotFound(_("No such channel."), code="channel_not_found")
    return channel


def access_channel_retention_read(*, user: User, channel_id: int) -> Channel:
    """A channel whose retention `user` may read: whoever may read the channel."""
    channel, _membership = access_channel_read(user=user, channel_id=channel_id)
    return channel


def may_manage_legal_holds(*, user: User) -> bool:
    """Compliance officers (the permission, granted with `manage.py compliance_officer`) and
    the owner; not administrators as such."""
    if not user.is_authenticated or not user.is_active:
        return False
    return user.role == Role.OWNER or user.has_perm(LEGAL_HOLD_PERMISSION)


def access_legal_hold_manage(*, user: User) -> None:
    """Raise unless `user` may place, list and release legal holds."""
    _require_active(user)
    if not may_manage_legal_holds(user=user):
        raise Forbidden(
            _("Only compliance officers manage legal holds."), code="not_compliance_officer"
        )
