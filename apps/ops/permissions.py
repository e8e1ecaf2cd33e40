"""Who may see the operations pages."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from apps.core.errors import Forbidden


def may_view_ops_overview(user: Any) -> bool:
    """The organisation's owner and administrators, still active (members, guests and
    anonymous visitors never)."""
    return bool(
        getattr(user, "is_authenticated", False)
        and user.is_active
        and getattr(user, "is_org_admin", False)
    )


def access_ops_overview(*, user: Any) -> None:
    """Raise Forbidden unless `user` may see the IT admin's overview."""
    if not may_view_ops_overview(user):
        raise Forbidden(
            _("Only the owner and administrators can see the overview."), code="not_org_admin"
        )
