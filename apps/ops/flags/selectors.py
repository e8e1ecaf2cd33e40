"""Reads of feature flags. Flags come from the cache (waffle's, the default cache): a warm
cache answers every flag of a user with one cache read and no database query."""

from __future__ import annotations

from typing import Any

from apps.ops.models import FeatureFlag, set_of_group_ids


def feature_flags_for(*, user: Any) -> dict[str, bool]:
    """Every flag's answer for `user`, by name (the user's groups are read at most once)."""
    group_ids: set[int] | None = None

    def user_group_ids() -> set[int]:
        nonlocal group_ids
        if group_ids is None:
            group_ids = set_of_group_ids(user)
        return group_ids

    return {
        flag.name: flag.is_active_for_user(user, user_group_ids) for flag in FeatureFlag.get_all()
    }


def feature_flag_is_active(*, user: Any, name: str) -> bool:
    """Whether the flag `name` is on for `user`; a flag that does not exist is off."""
    return FeatureFlag.get(name).is_active_for_user(user)
