"""`access_*` of the integration platform, shared by REST, pages and tasks.

A bot is managed by its owner and by organisation administrators; to anyone else it does not
exist (`bot_not_found`). Custom slash commands and the trusted-host lists are administrators'.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.core.errors import Forbidden, NotAuthenticated
from apps.core.features import access_feature
from apps.integrations.models import Bot

FLAG = "integrations"


def _require_active(user: User) -> None:
    if not user.is_authenticated:
        raise NotAuthenticated()
    if not user.is_active:
        raise Forbidden(_("This account is deactivated."), code="account_deactivated")


def bot_not_found() -> Exception:
    from apps.core.errors import NotFound

    return NotFound(_("No such bot."), code="bot_not_found")


def may_manage_bot(*, user: User, bot: Bot) -> bool:
    return user.is_org_admin or bot.owner_id == user.pk


def access_bot_manage(*, user: User, bot_id: int) -> Bot:
    """The bot, if `user` owns it or is an organisation administrator."""
    _require_active(user)
    access_feature(user=user, name=FLAG)
    bot = Bot.objects.select_related("user").filter(pk=bot_id).first()
    if bot is None or not may_manage_bot(user=user, bot=bot):
        raise bot_not_found()
    return bot


def access_integrations_admin(*, user: User) -> None:
    """Organisation administrators (custom commands, trusted hosts)."""
    _require_active(user)
    access_feature(user=user, name=FLAG)
    if not user.is_org_admin:
        raise Forbidden(_("Only administrators manage this."), code="not_org_admin")
