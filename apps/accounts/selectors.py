"""Reads of accounts that are more than a field: notification settings."""

from __future__ import annotations

from apps.accounts.models import NotificationSettings, User


def notification_settings_of(*, user: User) -> NotificationSettings:
    """The user's notification settings; the defaults (unsaved) when never changed."""
    found = NotificationSettings.objects.filter(user=user).first()
    return found or NotificationSettings(user=user)
