"""Writes on accounts: users, sessions, API tokens, deactivation."""

from __future__ import annotations

import hashlib
import io
import re
import secrets
import warnings
from datetime import datetime, time, timedelta
from typing import IO

from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image, ImageOps

from apps.accounts import availability
from apps.accounts.audit import AuditAction, audit_record
from apps.accounts.events import notification_settings_payload, user_status_event
from apps.accounts.models import (
    APIToken,
    NotificationSettings,
    OrganizationSettings,
    Role,
    User,
    UserSession,
    UserStatus,
)
from apps.accounts.roles import access_role_change, access_user_management
from apps.accounts.tokens import token_digest, token_generate
from apps.core.errors import Forbidden, InvalidInput, NotFound
from apps.core.events import Audience, control_on_commit, publish_on_commit

CLOSE_CODE_SESSION_ENDED = 4001
CLOSE_CODE_DEACTIVATED = 4003
# The API token that authenticated the socket was revoked or has expired.
CLOSE_CODE_TOKEN_REVOKED = 4004


def session_key_fingerprint(session_key: str) -> str:
    """Stable non-secret identifier of a session, safe to pass through the real-time bus."""
    return hashlib.sha256(session_key.encode()).hexdigest()[:24]


def user_create(
    *,
    username: str,
    password: str | None,
    email: str = "",
    display_name: str = "",
    role: str = Role.MEMBER,
    language: str = "",
    time_zone: str = "UTC",
    is_bot: bool = False,
) -> User:
    """Create an active user. `password=None` leaves an unusable password (directory users)."""
    username = username.strip()
    if not username:
        raise InvalidInput(_("A username is required."), code="username_required")
    if User.objects.filter(username__iexact=username).exists():
        raise InvalidInput(_("This username is taken."), code="username_taken")
    if role not in Role.values:
        raise InvalidInput(_("Unknown role."), code="invalid_role")
    user = User(
        username=username,
        email=email,
        display_name=display_name,
        role=role,
        language=language,
        time_zone=time_zone,
        is_bot=is_bot,
        is_staff=role in (Role.OWNER, Role.ADMIN),
        is_superuser=role == Role.OWNER,
    )
    if password is None:
        user.set_unusable_password()
    else:
        user.set_password(password)
    user.save()
    audit_record(
        action=AuditAction.USER_CREATED, target=user, metadata={"role": role, "bot": is_bot}
    )
    return user


def password_check(*, password: str, user: User) -> None:
    """Run the configured password validators for a new account; `weak_password` if any fails.

    `user` may be unsaved: the similarity validator compares against its username and e-mail.
    """
    try:
        validate_password(password, user=user)
    except ValidationError as error:
        raise InvalidInput(" ".join(error.messages), code="weak_password") from None


def effective_theme(user: User | None) -> str:
    """The theme a page is drawn in: the user's (the system's when signed out) when the
    `dark_mode` flag is on for them, else the light one (the only one before the flag)."""
    from apps.accounts.models import THEME_FLAG, Theme
    from apps.core.features import feature_enabled

    if user is None or not feature_enabled(user=user, name=THEME_FLAG):
        return str(Theme.LIGHT)
    # Signed out (the sign-in page), the flag is on only when it is on for everyone.
    return str(user.theme) if user.is_authenticated else str(Theme.SYSTEM)


def user_update_profile(
    *,
    user: User,
    display_name: str | None = None,
    time_zone: str | None = None,
    language: str | None = None,
    theme: str | None = None,
) -> User:
    """Change what a user may change about themself."""
    from apps.accounts.models import TIME_ZONE_CHOICES

    fields: list[str] = []
    if display_name is not None:
        user.display_name = display_name.strip()[:150]
        fields.append("display_name")
    if time_zone is not None:
        if time_zone not in dict(TIME_ZONE_CHOICES):
            raise InvalidInput(_("Unknown time zone."), code="invalid_time_zone")
        user.time_zone = time_zone
        fields.append("time_zone")
    if language is not None:
        from django.conf import settings

        if language and language not in dict(settings.LANGUAGES):
            raise InvalidInput(_("Unsupported language."), code="invalid_language")
        user.language = language
        fields.append("language")
    if theme is not None and theme != user.theme:
        from apps.accounts.models import THEME_FLAG, Theme
        from apps.core.features import access_feature

        if theme not in Theme.values:
            raise InvalidInput(_("Unknown theme."), code="invalid_theme")
        access_feature(user=user, name=THEME_FLAG)
        user.theme = theme
        fields.append("theme")
    if fields:
        user.save(update_fields=fields)
    if "language" in fields:
        control_on_commit(user.pk, "refresh")  # replies of open sockets follow the language
    return user


AVATAR_MAX_BYTES = 5 * 1024 * 1024
AVATAR_MAX_SIDE = 4096
AVATAR_SIZE = 256
AVATAR_FORMATS = frozenset({"PNG", "JPEG", "GIF", "WEBP"})


def _avatar_png(source: IO[bytes]) -> bytes:
    """The upload checked and redrawn as a square PNG, so none of the uploaded bytes is served."""
    data = source.read(AVATAR_MAX_BYTES + 1)
    if len(data) > AVATAR_MAX_BYTES:
        raise InvalidInput(
            _("The picture is larger than 5 MB."),
            code="avatar_too_large",
            details={"max_bytes": AVATAR_MAX_BYTES},
        )
    not_an_image = InvalidInput(
        _("The file is not a PNG, JPEG, GIF or WebP picture."), code="avatar_not_image"
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                if probe.format not in AVATAR_FORMATS:
                    raise not_an_image
                width, height = probe.size
                probe.verify()
            if width > AVATAR_MAX_SIDE or height > AVATAR_MAX_SIDE:
                raise InvalidInput(
                    _("The picture is larger than 4096×4096 pixels."),
                    code="avatar_too_many_pixels",
                    details={"max_side": AVATAR_MAX_SIDE},
                )
            # verify() leaves the image unusable: decode a fresh copy.
            with Image.open(io.BytesIO(data)) as image:
                image.seek(0)
                upright = ImageOps.exif_transpose(image).convert("RGBA")
                square = ImageOps.fit(upright, (AVATAR_SIZE, AVATAR_SIZE), Image.Resampling.LANCZOS)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Warning):
        raise not_an_image from None
    out = io.BytesIO()
    square.save(out, format="PNG", optimize=True)
    return out.getvalue()


def user_set_avatar(*, user: User, source: IO[bytes] | None) -> User:
    """Replace the user's picture with a 256×256 PNG drawn from `source`; None removes it.

    The old file is deleted once the new name is saved. Raises InvalidInput (`avatar_*` codes)
    for anything that is not a picture within the limits.
    """
    previous = user.avatar.name if user.avatar else ""
    if source is None:
        user.avatar = None
    else:
        png = _avatar_png(source)
        # A fresh name per upload: browsers may cache avatar URLs for a long time.
        name = f"{user.pk}-{secrets.token_urlsafe(8)}.png"
        user.avatar.save(name, ContentFile(png), save=False)
    user.save(update_fields=["avatar"])
    if previous and previous != (user.avatar.name if user.avatar else ""):
        storage = User._meta.get_field("avatar").storage
        transaction.on_commit(lambda: storage.delete(previous))
    return user


def session_record(
    *, user: User, session_key: str, ip_address: str | None, user_agent: str
) -> UserSession:
    """Remember a fresh log-in so it can be listed and revoked."""
    record, _created = UserSession.objects.update_or_create(
        session_key=session_key,
        defaults={"user": user, "ip_address": ip_address, "user_agent": user_agent[:300]},
    )
    return record


def session_end(*, user: User, session_key: str) -> None:
    """Forget a session that logged out and close the sockets opened with it."""
    if not session_key:
        return
    UserSession.objects.filter(user=user, session_key=session_key).delete()
    control_on_commit(
        user.pk,
        "close",
        session=session_key_fingerprint(session_key),
        code=CLOSE_CODE_SESSION_ENDED,
    )


@transaction.atomic
def user_deactivate(*, user: User, actor: User | None = None, reason: str = "") -> None:
    """Deactivate a user: end every session, revoke every token, close every socket at once.

    `actor` is the administrator (None: the system, e.g. the directory sync, with a `reason`);
    administrators deactivate members and guests, the owner anyone but themself.
    """
    if actor is not None:
        if actor.pk == user.pk:
            raise Forbidden(_("You cannot deactivate yourself."), code="cannot_deactivate_self")
        access_user_management(actor=actor, target=user)
    now = timezone.now()
    user.is_active = False
    user.save(update_fields=["is_active"])
    keys = list(UserSession.objects.filter(user=user).values_list("session_key", flat=True))
    Session.objects.filter(session_key__in=keys).delete()
    UserSession.objects.filter(user=user).delete()
    APIToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=now)
    control_on_commit(user.pk, "close", session=None, code=CLOSE_CODE_DEACTIVATED)
    audit_record(
        action=AuditAction.USER_DEACTIVATED,
        actor=actor,
        target=user,
        metadata={"reason": reason} if reason else None,
    )


def user_reactivate(*, user: User, actor: User | None = None, reason: str = "") -> None:
    """Allow a deactivated user to sign in again."""
    if actor is not None:
        access_user_management(actor=actor, target=user)
    user.is_active = True
    user.save(update_fields=["is_active"])
    audit_record(
        action=AuditAction.USER_REACTIVATED,
        actor=actor,
        target=user,
        metadata={"reason": reason} if reason else None,
    )


def user_set_role(*, user: User, role: str, actor: User | None = None, reason: str = "") -> User:
    """Change a user's organisation role; staff and superuser flags follow it (admin access).

    `actor` None: the system (the directory sync). An actor may not change their own role,
    and an administrator moves only members and guests, between those two roles
    (apps/accounts/roles.py).
    """
    if role not in Role.values:
        raise InvalidInput(_("Unknown role."), code="invalid_role")
    if role == user.role:
        return user
    if actor is not None:
        access_role_change(actor=actor, target=user, role=role)
    audit_record(
        action=AuditAction.ROLE_CHANGED,
        actor=actor,
        target=user,
        metadata={"from": user.role, "to": role, **({"reason": reason} if reason else {})},
    )
    user.role = role
    user.is_staff = role in (Role.OWNER, Role.ADMIN)
    user.is_superuser = role == Role.OWNER
    user.save(update_fields=["role", "is_staff", "is_superuser"])
    # Open sockets re-read the user before their next operation.
    control_on_commit(user.pk, "refresh")
    return user


def api_token_create(
    *, user: User, name: str, expires_at: datetime | None = None
) -> tuple[APIToken, str]:
    """Create a token and return it with its raw value, which is shown this once only."""
    name = name.strip()
    if not name:
        raise InvalidInput(_("Give the token a name."), code="token_name_required")
    raw = token_generate()
    token = APIToken.objects.create(
        user=user,
        name=name[:100],
        prefix=raw[:12],
        digest=token_digest(raw),
        expires_at=expires_at,
    )
    audit_record(
        action=AuditAction.TOKEN_CREATED,
        actor=user,
        target=token,
        metadata={"user_id": user.pk, "prefix": token.prefix},
    )
    return token, raw


def api_token_revoke(*, user: User, token_id: int, actor: User | None = None) -> None:
    """Revoke one of the user's tokens and close the sockets it opened, at once.

    `actor` is who revoked it (None: the user themself; an administrator in the console).
    """
    if actor is not None and actor.pk != user.pk:
        access_user_management(actor=actor, target=user)
    updated = APIToken.objects.filter(pk=token_id, user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if not updated:
        raise NotFound(_("No such token."))
    control_on_commit(user.pk, "close", token=token_id, code=CLOSE_CODE_TOKEN_REVOKED)
    audit_record(
        action=AuditAction.TOKEN_REVOKED,
        actor=actor or user,
        target_type="apitoken",
        target_id=token_id,
        metadata={"user_id": user.pk},
    )


ORGANIZATION_RULES = (
    "public_channel_creators",
    "private_channel_creators",
    "channel_inviters",
    "mention_all_senders",
    "bot_creators",
    "two_factor_required_for",
    "read_receipts_enabled",
    "open_signup_enabled",
    "signup_allowed_domains",
)
# A domain as sign-up compares it (apps/accounts/signup.py): labels of letters, digits and
# hyphens (IDNs in their xn-- form), at least one dot.
_DOMAIN = re.compile(r"(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}")
MAX_SIGNUP_DOMAINS = 200


def signup_domains_invalid(text: str) -> list[str]:
    """The entries of an allowed-domains list (one per line or comma-separated, "@" optional)
    that are not domain names; more than MAX_SIGNUP_DOMAINS entries count as one problem."""
    entries = [
        e.strip().lstrip("@").rstrip(".").lower() for e in text.replace(",", "\n").splitlines()
    ]
    entries = [entry for entry in entries if entry]
    if len(entries) > MAX_SIGNUP_DOMAINS:
        return [f"> {MAX_SIGNUP_DOMAINS}"]
    return [entry for entry in entries if not _DOMAIN.fullmatch(entry)]


@transaction.atomic
def organization_settings_update(
    *, actor: User, changes: dict[str, str | bool]
) -> OrganizationSettings:
    """Change organisation rules; audited with old and new values."""

    def valid(name: str, value: str | bool) -> bool:
        field = OrganizationSettings._meta.get_field(name)
        if isinstance(field, models.BooleanField):
            return isinstance(value, bool)
        if name == "signup_allowed_domains":
            return isinstance(value, str) and not signup_domains_invalid(value)
        choices = getattr(field, "choices", None) or ()
        return value in {choice for choice, _label in choices}

    unknown = set(changes) - set(ORGANIZATION_RULES)
    if unknown or not all(valid(name, value) for name, value in changes.items()):
        raise InvalidInput(_("Unknown organisation setting or value."), code="invalid_setting")
    settings, _created = OrganizationSettings.objects.select_for_update().get_or_create(pk=1)
    diff = {
        name: {"from": getattr(settings, name), "to": value}
        for name, value in changes.items()
        if getattr(settings, name) != value
    }
    if diff:
        for name, value in changes.items():
            setattr(settings, name, value)
        settings.save()
        audit_record(
            action=AuditAction.ORG_SETTINGS_CHANGED, actor=actor, target=settings, metadata=diff
        )
    return settings


def user_unlock(*, user: User, actor: User | None) -> int:
    """Lift a brute-force lock-out: forget the user's failed log-ins. Returns how many."""
    if actor is not None:
        access_user_management(actor=actor, target=user)
    from axes.utils import reset

    cleared = reset(username=user.get_username())
    audit_record(
        action=AuditAction.USER_UNLOCKED, actor=actor, target=user, metadata={"cleared": cleared}
    )
    return cleared


@transaction.atomic
def user_sessions_end(
    *, user: User, keep_session_key: str | None = None, actor: User | None = None
) -> int:
    """Sign the user out of their browser sessions (all, or all but `keep_session_key`).

    Their sockets opened with those sessions close too. Returns how many sessions ended.
    `actor`: an administrator signing someone else out (None or the user: themself).
    """
    if actor is not None and actor.pk != user.pk:
        access_user_management(actor=actor, target=user)
    records = UserSession.objects.filter(user=user)
    if keep_session_key:
        records = records.exclude(session_key=keep_session_key)
    keys = list(records.values_list("session_key", flat=True))
    Session.objects.filter(session_key__in=keys).delete()
    UserSession.objects.filter(user=user, session_key__in=keys).delete()
    for key in keys:
        control_on_commit(
            user.pk, "close", session=session_key_fingerprint(key), code=CLOSE_CODE_SESSION_ENDED
        )
    audit_record(
        action=AuditAction.SESSIONS_ENDED,
        actor=actor or user,
        target=user,
        metadata={"count": len(keys), "kept_current": bool(keep_session_key)},
    )
    return len(keys)


# --- custom status and do-not-disturb -----------------------------------------------------------

STATUS_TEXT_MAX = 80
STATUS_EMOJI_MAX = 32
# The longest a pause set by hand may last (a schedule covers what recurs).
DND_MAX = timedelta(days=366)


def _status_row_locked(user: User) -> UserStatus:
    row, _created = UserStatus.objects.get_or_create(user=user)
    row = UserStatus.objects.select_for_update().get(pk=row.pk)
    user.custom_status = row  # what the payloads read, without another query
    return row


def _publish_user_status(user: User) -> None:
    """Tell whoever watches the user's presence (the user's own tabs included) what holds now."""
    publish_on_commit(
        user_status_event(user, now=timezone.now()), to=Audience.presence_watchers(user.pk)
    )


@transaction.atomic
def user_status_set(
    *,
    user: User,
    emoji: str,
    text: str,
    clear_after: str = "never",
    expires_at: datetime | None = None,
) -> UserStatus:
    """Set the user's custom status. It clears itself after `clear_after` (a preset of
    `availability.CLEAR_AFTER`, "today" and "week" in the user's time zone) or at `expires_at`
    when given."""
    emoji, text = emoji.strip(), " ".join(text.split())
    if not emoji and not text:
        raise InvalidInput(_("Give the status an emoji or a text."), code="status_empty")
    if len(text) > STATUS_TEXT_MAX or len(emoji) > STATUS_EMOJI_MAX:
        raise InvalidInput(
            _("A status is at most %(max)d characters.") % {"max": STATUS_TEXT_MAX},
            code="status_too_long",
            details={"max_chars": STATUS_TEXT_MAX},
        )
    if clear_after not in availability.CLEAR_AFTER:
        raise InvalidInput(_("Unknown duration."), code="invalid_clear_after")
    now = timezone.now()
    if expires_at is None:
        expires_at = availability.status_expiry(
            clear_after=clear_after, now=now, zone=availability.user_zone(user)
        )
    elif expires_at <= now:
        raise InvalidInput(_("The status would clear in the past."), code="status_expiry_past")
    row = _status_row_locked(user)
    row.emoji, row.text, row.expires_at = emoji, text, expires_at
    row.save(update_fields=["emoji", "text", "expires_at", "updated_at"])
    _publish_user_status(user)
    return row


@transaction.atomic
def user_status_clear(*, user: User) -> UserStatus:
    """Clear the user's custom status (do-not-disturb stays as it is)."""
    row = _status_row_locked(user)
    row.emoji, row.text, row.expires_at = "", "", None
    row.save(update_fields=["emoji", "text", "expires_at", "updated_at"])
    _publish_user_status(user)
    return row


@transaction.atomic
def user_dnd_set(
    *,
    user: User,
    until: datetime | None,
    change_pause: bool = True,
    schedule_enabled: bool | None = None,
    schedule_days: list[int] | None = None,
    schedule_start: time | None = None,
    schedule_end: time | None = None,
) -> UserStatus:
    """Pause the user's notifications until `until` (None: resume them now) and, when given,
    replace the weekly schedule (days 0 = Monday, from `schedule_start` to `schedule_end` in the
    user's time zone, across midnight when the end is not after the start).

    `change_pause=False` keeps the pause as it is (`until` is then ignored). Messages still
    arrive and count as unread: only notifications are held, by the clients.
    """
    now = timezone.now()
    if not change_pause:
        until = None
    if until is not None and until <= now:
        raise InvalidInput(_("Pause notifications until a time to come."), code="dnd_until_past")
    if until is not None and until - now > DND_MAX:
        raise InvalidInput(_("Pause notifications for a year at most."), code="dnd_too_long")
    row = _status_row_locked(user)
    fields = ["updated_at"]
    if change_pause:
        row.dnd_until = until
        fields.append("dnd_until")
    if schedule_enabled is not None:
        days = sorted(set(schedule_days or []))
        if any(day not in range(7) for day in days):
            raise InvalidInput(_("Days are 0 (Monday) to 6 (Sunday)."), code="invalid_dnd_days")
        if schedule_enabled and (
            not days
            or schedule_start is None
            or schedule_end is None
            or schedule_start == schedule_end
        ):
            raise InvalidInput(
                _("A schedule needs at least one day and different start and end times."),
                code="invalid_dnd_schedule",
            )
        row.dnd_schedule_enabled = schedule_enabled
        row.dnd_days = days
        row.dnd_start, row.dnd_end = schedule_start, schedule_end
        fields += ["dnd_schedule_enabled", "dnd_days", "dnd_start", "dnd_end"]
    row.save(update_fields=fields)
    _publish_user_status(user)
    return row


@transaction.atomic
def notification_settings_update(
    *,
    user: User,
    desktop: bool | None = None,
    sound: bool | None = None,
    email_unread: bool | None = None,
) -> NotificationSettings:
    """Change the user's notification settings (None: unchanged); the user's tabs follow."""
    settings, _created = NotificationSettings.objects.select_for_update().get_or_create(user=user)
    changes = {"desktop": desktop, "sound": sound, "email_unread": email_unread}
    for name, value in changes.items():
        if value is not None:
            setattr(settings, name, value)
    settings.save()
    publish_on_commit(
        {
            "type": "notification_settings.updated",
            "settings": notification_settings_payload(settings),
        },
        to=Audience.users([user.pk]),
    )
    return settings
