"""Open sign-up: when the organisation allows it, people with an address in an allowed e-mail
domain create their own member account (no invitation needed).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _

from apps.accounts import services
from apps.accounts.audit import AuditAction, audit_record
from apps.accounts.models import OrganizationSettings, Role, User
from apps.accounts.signals import user_onboarded
from apps.core.errors import Forbidden, InvalidInput


def signup_allowed_domains(settings: OrganizationSettings) -> frozenset[str]:
    """The allowed domains, lower-cased (one per line or comma-separated; "@" optional)."""
    raw = settings.signup_allowed_domains.replace(",", "\n").splitlines()
    return frozenset(d.strip().lstrip("@").rstrip(".").lower() for d in raw if d.strip())


def signup_email_allowed(*, email: str, settings: OrganizationSettings) -> bool:
    """Whether `email`'s domain is exactly one of the allowed domains (no subdomains)."""
    _local, at, domain = email.strip().rpartition("@")
    return bool(at and _local) and domain.lower() in signup_allowed_domains(settings)


def signup_enabled() -> bool:
    from apps.accounts.permissions import organization_settings

    settings = organization_settings()
    return settings.open_signup_enabled and bool(signup_allowed_domains(settings))


def user_sign_up(*, email: str, username: str, password: str, display_name: str = "") -> User:
    """Create a member account for an address in an allowed domain; audited either way."""
    from apps.accounts.permissions import organization_settings

    settings = organization_settings()
    if not settings.open_signup_enabled:
        raise Forbidden(_("Sign-up is closed: ask for an invitation."), code="signup_closed")
    email = email.strip().lower()
    try:
        validate_email(email)
    except ValidationError as error:
        raise InvalidInput(_("Enter a valid e-mail address."), code="invalid_email") from error
    if not signup_email_allowed(email=email, settings=settings):
        audit_record(
            action=AuditAction.SIGNUP_REFUSED, metadata={"domain": email.rpartition("@")[2]}
        )
        raise Forbidden(
            _("Addresses in this domain cannot sign up: ask for an invitation."),
            code="signup_domain_not_allowed",
        )
    if User.objects.filter(email__iexact=email).exists():
        # Same answer as for a taken username: no hint whether the address has an account.
        raise InvalidInput(_("This account cannot be created."), code="signup_unavailable")
    services.password_check(password=password, user=User(username=username, email=email))
    # The refusal above is audited outside this transaction, so that it is kept.
    with transaction.atomic():
        user = services.user_create(
            username=username,
            password=password,
            email=email,
            display_name=display_name.strip()[:150],
            role=Role.MEMBER,
        )
        audit_record(action=AuditAction.SIGNED_UP, actor=user, target=user)
        user_onboarded.send(sender=User, user=user, source="signup", channel_ids=[])
    return user
