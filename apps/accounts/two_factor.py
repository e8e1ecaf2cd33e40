"""Two-factor authentication: TOTP devices (django-otp) and single-use recovery codes.

Enrolment is two steps: `totp_enrolment_start` makes an unconfirmed device (its secret goes
into the authenticator app), `totp_enrolment_confirm` checks a first code from the app, then
confirms the device and issues recovery codes, shown once. `two_factor_verify` accepts either
a TOTP code (each used once: django-otp refuses replays) or a recovery code (consumed).
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

import segno
from django.db import transaction
from django.utils.translation import gettext as _
from django_otp import DEVICE_ID_SESSION_KEY, devices_for_user, match_token, user_has_device
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts.audit import AuditAction, audit_record
from apps.accounts.models import TwoFactorRequirement, User
from apps.core.errors import InvalidInput

RECOVERY_CODE_COUNT = 10
DEVICE_NAME = "authenticator"
RECOVERY_NAME = "recovery codes"


def two_factor_enabled(user: User) -> bool:
    """Whether the user has a confirmed second factor."""
    return bool(user_has_device(user, confirmed=True))


def two_factor_required(user: User) -> bool:
    """Whether the organisation settings make a second factor mandatory for this user."""
    from apps.accounts.permissions import organization_settings

    requirement = organization_settings().two_factor_required_for
    if requirement == TwoFactorRequirement.EVERYONE:
        return not user.is_bot
    return requirement == TwoFactorRequirement.ADMINS and user.is_org_admin


def two_factor_missing(*, user: User, verified: bool) -> bool:
    """Whether the organisation requires a second factor of `user` and the session lacks one.

    `verified`: the session was verified with a device (django-otp's `user.is_verified()`).
    """
    return not verified and two_factor_required(user)


def session_two_factor_verified(*, user: User, session: Any) -> bool:
    """Whether `session` was verified with one of the user's confirmed devices.

    The same test as django-otp's OTPMiddleware, for WebSocket handshakes (no HTTP middleware).
    """
    persistent_id = session.get(DEVICE_ID_SESSION_KEY) if session is not None else None
    if not persistent_id:
        return False
    device = Device.from_persistent_id(persistent_id, for_verify=False)
    return device is not None and device.user_id == user.pk and bool(device.confirmed)


@transaction.atomic
def totp_enrolment_start(*, user: User) -> TOTPDevice:
    """A fresh unconfirmed TOTP device (replacing an unfinished enrolment)."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)


def totp_pending_device(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()


def totp_provisioning_qr(device: TOTPDevice) -> str:
    """The otpauth:// URI as a QR code in a data: URI (allowed by our img-src policy)."""
    return str(segno.make(device.config_url, micro=False).png_data_uri(scale=5))


def totp_secret_base32(device: TOTPDevice) -> str:
    """The secret to type into an app that cannot scan codes."""
    return base64.b32encode(device.bin_key).decode().rstrip("=")


@transaction.atomic
def totp_enrolment_confirm(*, user: User, token: str) -> list[str]:
    """Confirm the pending device with a code from the app; returns new recovery codes."""
    device = totp_pending_device(user)
    if device is None:
        raise InvalidInput(_("Start the set-up again."), code="no_pending_device")
    if not device.verify_token(token.strip().replace(" ", "")):
        raise InvalidInput(
            _("That code is not right. Check the time on your phone."), code="bad_otp"
        )
    for other in devices_for_user(user, confirmed=None):
        if other.pk != device.pk or not isinstance(other, TOTPDevice):
            other.delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = recovery_codes_issue(user=user)
    audit_record(action=AuditAction.TWO_FACTOR_ENABLED, actor=user, target=user)
    return codes


# No look-alike characters; 14 of them carry ~69 bits. The stored form ("abcdefg-hjkmnpq",
# 15 characters) must fit django-otp's StaticToken.token (max_length=16; PostgreSQL enforces it).
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def _recovery_code() -> str:
    half = [("".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(7))) for _ in range(2)]
    return "-".join(half)


@transaction.atomic
def recovery_codes_issue(*, user: User) -> list[str]:
    """Replace the user's recovery codes with new ones; each works once."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
    codes = [_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


def two_factor_verify(*, user: User, token: str) -> Device | None:
    """The device that accepts `token` (a TOTP or recovery code, consumed), else None."""
    token = (token or "").strip().replace(" ", "").lower()
    if not token:
        return None
    device: Device | None = match_token(user, token)
    if device is not None:
        audit_record(
            action=AuditAction.TWO_FACTOR_USED,
            actor=user,
            target=user,
            metadata={"method": "recovery_code" if isinstance(device, StaticDevice) else "totp"},
        )
    return device


@transaction.atomic
def two_factor_reset(*, user: User, actor: User | None) -> None:
    """Remove every second factor of a user (lost phone); they enrol again. `actor`: the
    administrator doing it for them (who must manage that user), or None or the user."""
    if actor is not None and actor.pk != user.pk:
        from apps.accounts.roles import access_user_management

        access_user_management(actor=actor, target=user)
    for device in devices_for_user(user, confirmed=None):
        device.delete()
    audit_record(action=AuditAction.TWO_FACTOR_RESET, actor=actor, target=user)


def two_factor_verify_device_for_session(*, user: User) -> Device | None:
    """The confirmed TOTP device, to mark the session that just enrolled as verified."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()
