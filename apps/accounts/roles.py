"""What each organisation role may do in the admin console (Django permissions), and whom an
administrator may manage.

The owner is a superuser: every permission. An administrator holds the permissions below,
derived from the role on every check (no group or per-user permission rows to keep in sync
when a role changes, and a model added to an Enclave app later is covered at once). Members
and guests hold none. Each ModelAdmin narrows further where an object must only change
through a service (read-only records, actions instead of edits).

Administrators run the organisation day to day; the owner stays in charge of them:

- every model of Enclave's own apps (`apps.*`), except deleting users (deactivate instead);
- django-axes' records of sign-in attempts and lock-outs, to read (unlocking is the Users
  action, audited);
- not: permission groups, other people's second-factor devices (an administrator could add
  their own device to someone's account), Django's own tables;
- people: members and guests, and their own profile. Not the owner or other administrators,
  not their own role or active status, and never the owner role (see `may_manage_user`).
"""

from __future__ import annotations

import functools
from typing import Any

from django.apps import apps
from django.contrib.auth.backends import BaseBackend
from django.utils.translation import gettext as _

from apps.accounts.models import Role, User
from apps.core.errors import Forbidden

# Permissions an administrator does not get although the model is Enclave's own.
# Legal holds are for compliance officers (a permission of their own, apps.governance): an
# administrator who could release one could then delete what it keeps. Compliance exports
# (every message of whom and where the officer chooses) likewise.
ADMIN_DENIED = frozenset(
    {"accounts.delete_user", "governance.manage_legal_hold", "governance.export_compliance"}
)
# Third-party models an administrator may read.
ADMIN_VIEW_ONLY_APPS = frozenset({"axes"})
# Roles an administrator may give and take: the owner appoints administrators.
ADMIN_ASSIGNABLE_ROLES = (Role.MEMBER, Role.GUEST)


@functools.cache
def admin_permissions() -> frozenset[str]:
    """Every `app_label.codename` an administrator holds (from the models, not the database)."""
    granted: set[str] = set()
    for config in apps.get_app_configs():
        enclave = config.name.startswith("apps.")
        if not enclave and config.label not in ADMIN_VIEW_ONLY_APPS:
            continue
        for model in config.get_models():
            opts = model._meta
            actions = opts.default_permissions if enclave else ("view",)
            granted.update(f"{opts.app_label}.{action}_{opts.model_name}" for action in actions)
            if enclave:
                granted.update(
                    f"{opts.app_label}.{codename}" for codename, _name in opts.permissions
                )
    return frozenset(granted - ADMIN_DENIED)


class RolePermissionBackend(BaseBackend):
    """Model permissions from the organisation role (AUTHENTICATION_BACKENDS); authenticates
    no one. Object-level checks (`obj`) are left to the ModelAdmins."""

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if obj is not None or not getattr(user_obj, "is_active", False):
            return set()
        if getattr(user_obj, "role", None) == Role.ADMIN:
            return set(admin_permissions())
        return set()

    def has_perm(self, user_obj: Any, perm: str, obj: Any = None) -> bool:
        return perm in self.get_all_permissions(user_obj, obj)

    def has_module_perms(self, user_obj: Any, app_label: str) -> bool:
        prefix = f"{app_label}."
        return any(perm.startswith(prefix) for perm in self.get_all_permissions(user_obj))


def may_manage_user(*, actor: User, target: User) -> bool:
    """Whether `actor` may change `target`'s account (profile, status, sessions, 2FA).

    The owner manages everyone; an administrator members, guests and their own profile.
    """
    if not actor.is_active:
        return False
    if actor.role == Role.OWNER:
        return True
    if actor.role != Role.ADMIN:
        return False
    return target.pk == actor.pk or target.role in ADMIN_ASSIGNABLE_ROLES


def roles_assignable_by(actor: User) -> tuple[str, ...]:
    """The roles `actor` may give someone (the owner: any; an administrator: member, guest)."""
    if actor.role == Role.OWNER:
        return tuple(Role.values)
    if actor.role == Role.ADMIN:
        return ADMIN_ASSIGNABLE_ROLES
    return ()


def access_user_management(*, actor: User, target: User) -> None:
    """Raise Forbidden unless `actor` may manage `target` (`may_manage_user`)."""
    if not may_manage_user(actor=actor, target=target):
        raise Forbidden(
            _("Only the owner manages the owner and administrators."), code="cannot_manage_user"
        )


def access_role_change(*, actor: User, target: User, role: str) -> None:
    """Raise Forbidden unless `actor` may give `target` the role `role`: nobody changes their
    own role, and an administrator moves people only between member and guest."""
    if target.pk == actor.pk:
        raise Forbidden(_("You cannot change your own role."), code="cannot_change_own_role")
    access_user_management(actor=actor, target=target)
    if role not in roles_assignable_by(actor):
        raise Forbidden(
            _("Only the owner appoints administrators and the owner."), code="role_too_high"
        )
