"""The hook through which a legal hold reaches chat's deletion (filled by `apps.governance`).

Chat cannot import the apps above it (docs/architecture/README.md), yet deleting a message must
ask whether the message is under a legal hold: then a deletion only hides it (the tombstone
keeps its text and files for a compliance export). The governance app registers its check in
`GovernanceConfig.ready()`; without one nothing is held.
"""

from __future__ import annotations

from collections.abc import Callable

from apps.chat.models import Message

HoldCheck = Callable[[Message], bool]
_checks: list[HoldCheck] = []


def register_message_hold_check(check: HoldCheck) -> None:
    """Ask `check` whether a message about to be deleted is held (idempotent)."""
    if check not in _checks:
        _checks.append(check)


def message_is_held(message: Message) -> bool:
    """Whether any registered check holds `message` (False without any)."""
    return any(check(message) for check in _checks)
