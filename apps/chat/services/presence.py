"""Presence: a socket's state, keep-alives and disconnects."""

from __future__ import annotations

from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.core.errors import InvalidInput
from apps.core.events import Audience, publish_on_commit

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
