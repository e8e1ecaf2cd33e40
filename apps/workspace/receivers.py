"""Receivers of the hooks lower apps offer (connected in WorkspaceConfig.ready())."""

from __future__ import annotations

from typing import Any

from apps.accounts.models import User
from apps.workspace import services


def on_user_onboarded(
    sender: Any, *, user: User, source: str, channel_ids: list[int], **kwargs: Any
) -> None:
    """`apps.accounts.signals.user_onboarded`: inside the creating transaction."""
    services.user_onboard(user=user, source=source, channel_ids=channel_ids)
