"""Changes to feature flags, each recorded in the audit log with what it was and became."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import Group
from django.db import transaction

from apps.accounts.audit import audit_record
from apps.accounts.models import User
from apps.ops.models import FeatureFlag

FLAG_CREATED = "flag.created"
FLAG_CHANGED = "flag.changed"
FLAG_DELETED = "flag.deleted"


def feature_flag_state(flag: FeatureFlag) -> dict[str, Any]:
    """What decides who gets the flag, as the audit log stores it (JSON: percent as text)."""
    return {
        "everyone": flag.everyone,
        "percent": None if flag.percent is None else str(flag.percent),
        "roles": sorted(flag.roles),
        "users": sorted(flag.users.values_list("username", flat=True)),
        "groups": sorted(flag.groups.values_list("name", flat=True)),
        "note": flag.note,
    }


@transaction.atomic
def feature_flag_save(
    *,
    actor: User,
    flag: FeatureFlag,
    users: Iterable[User] | None = None,
    groups: Iterable[Group] | None = None,
) -> FeatureFlag:
    """Create `flag` or save its changed fields (and, when given, its users and groups).

    Validated like a form would be; audited as `flag.created` (its state) or `flag.changed`
    (before and after, only when something changed). Every process sees the change once it
    is committed: the cached flags are dropped then.
    """
    before = None
    if flag.pk is not None:
        before = feature_flag_state(FeatureFlag.objects.select_for_update().get(pk=flag.pk))
    flag.full_clean()
    flag.save()
    if users is not None:
        flag.users.set(users)
    if groups is not None:
        flag.groups.set(groups)
    after = feature_flag_state(flag)
    if before is None:
        audit_record(action=FLAG_CREATED, actor=actor, target=flag, metadata={"after": after})
    elif before != after:
        changed = sorted(key for key in after if before[key] != after[key])
        audit_record(
            action=FLAG_CHANGED,
            actor=actor,
            target=flag,
            metadata={"changed": changed, "before": before, "after": after},
        )
    # Waffle drops the cached flag when its row or member lists change, but the member lists
    # at once, before the commit: a request in between could cache the old state again.
    transaction.on_commit(flag.flush)
    return flag


def feature_flag_set_everyone(*, actor: User, flag: FeatureFlag, everyone: bool | None) -> None:
    """On for everyone (True), off for everyone (False), or by its rules again (None)."""
    flag.everyone = everyone
    feature_flag_save(actor=actor, flag=flag)


@transaction.atomic
def feature_flag_delete(*, actor: User, flag: FeatureFlag) -> None:
    """Delete `flag` (its feature is then off for everyone); audited with its last state."""
    audit_record(
        action=FLAG_DELETED, actor=actor, target=flag, metadata={"before": feature_flag_state(flag)}
    )
    flag.delete()  # waffle drops the cached flag after the commit
