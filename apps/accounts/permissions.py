"""`access_org_action`: the organisation settings' rules, shared by REST, WebSocket and pages."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.accounts.models import OrganizationSettings, Role, User
from apps.core.errors import Forbidden

ROLE_RANK: dict[str, int] = {Role.GUEST: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}


class OrgAction(models.TextChoices):
    CREATE_PUBLIC_CHANNEL = "public_channel_creators", gettext_lazy("create public channels")
    CREATE_PRIVATE_CHANNEL = "private_channel_creators", gettext_lazy("create private channels")
    INVITE = "channel_inviters", gettext_lazy("add people to channels")
    MENTION_ALL = "mention_all_senders", gettext_lazy("mention @all")
    CREATE_BOT = "bot_creators", gettext_lazy("create bots")


ERROR_CODES = {
    OrgAction.CREATE_PUBLIC_CHANNEL: "cannot_create_public_channel",
    OrgAction.CREATE_PRIVATE_CHANNEL: "cannot_create_private_channel",
    OrgAction.INVITE: "cannot_invite",
    OrgAction.MENTION_ALL: "cannot_mention_all",
    OrgAction.CREATE_BOT: "cannot_create_bot",
}


def organization_settings() -> OrganizationSettings:
    """The organisation's settings row, created with the defaults on first use."""
    settings, _created = OrganizationSettings.objects.get_or_create(pk=1)
    return settings


def role_at_least(*, user: User, minimum: str) -> bool:
    return ROLE_RANK.get(user.role, 0) >= ROLE_RANK.get(minimum, 99)


def may_do(*, user: User, action: OrgAction, settings: OrganizationSettings | None = None) -> bool:
    """Whether the organisation settings let `user` do `action` (guests never may)."""
    if user.is_guest:
        return False
    settings = settings or organization_settings()
    return role_at_least(user=user, minimum=getattr(settings, action.value))


def access_org_action(*, user: User, action: OrgAction) -> None:
    """Raise Forbidden unless the organisation settings let `user` do `action`."""
    if not may_do(user=user, action=action):
        raise Forbidden(
            _("Your organisation does not let you %(action)s.") % {"action": action.label},
            code=ERROR_CODES[action],
        )
