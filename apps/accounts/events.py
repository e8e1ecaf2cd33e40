"""Pushes of accounts: a user's custom status and do-not-disturb (`user.status`), one's own
notification settings (`notification_settings.updated`). Listed in `EVENT_SCHEMAS`
(`apps/chat/events.py`)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, TypedDict

from apps.accounts.availability import (
    DndPayload,
    StatusPayload,
    dnd_current,
    status_current,
    user_status_row,
    user_zone,
)
from apps.accounts.models import NotificationSettings, User


class UserStatusEvent(TypedDict):
    """A user's status or do-not-disturb changed; watchers of the user's presence receive it."""

    type: Literal["user.status"]
    user_id: int
    status: StatusPayload | None
    dnd: DndPayload


class NotificationSettingsPayload(TypedDict):
    desktop: bool
    sound: bool
    email_unread: bool


class NotificationSettingsEvent(TypedDict):
    """One's own notification settings changed (to one's own tabs only)."""

    type: Literal["notification_settings.updated"]
    settings: NotificationSettingsPayload


def user_status_event(user: User, *, now: datetime) -> UserStatusEvent:
    row = user_status_row(user)
    return {
        "type": "user.status",
        "user_id": user.pk,
        "status": status_current(row, now=now),
        "dnd": dnd_current(row, zone=user_zone(user), now=now),
    }


def notification_settings_payload(settings: NotificationSettings) -> NotificationSettingsPayload:
    return {
        "desktop": settings.desktop,
        "sound": settings.sound,
        "email_unread": settings.email_unread,
    }
