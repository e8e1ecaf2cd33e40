"""Receivers that keep calls in step with chat and accounts (connected in CallsConfig.ready()).

Chat and accounts know nothing of calls; when a membership row goes (leave, removal, channel
deletion) or an account is deactivated, the person is taken out of the calls of that channel,
or of all their calls, once the change is committed: their Janus token is revoked and their
media in the meeting stops.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.accounts.models import User
from apps.calls import services
from apps.chat.models import Membership


def membership_deleted(sender: Any, instance: Membership, **kwargs: Any) -> None:
    user_id, channel_id = instance.user_id, instance.channel_id
    transaction.on_commit(
        lambda: services.meeting_drop_user(user_id=user_id, channel_id=channel_id)
    )


def user_saved(sender: Any, instance: User, **kwargs: Any) -> None:
    update_fields = kwargs.get("update_fields")
    if instance.is_active or (update_fields is not None and "is_active" not in update_fields):
        return
    user_id = instance.pk
    transaction.on_commit(lambda: services.meeting_drop_user(user_id=user_id))
