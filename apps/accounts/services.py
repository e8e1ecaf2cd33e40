"""Writes on accounts: users, sessions, API tokens, deactivation."""

from __future__ import annotations

import hashlib
import io
import secrets
import warnings
from datetime import datetime
from typing import IO

from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image, ImageOps

from apps.accounts.audit import AuditAction, audit_record
from apps.accounts.models import APIToken, OrganizationSettings, Role, User, UserSession
from apps.accounts.tokens import token_digest, token_generate
from apps.core.errors import InvalidInput, NotFound
from apps.core.events import control_on_commit

CLOSE_CODE_SESSION_ENDED = 4001
CLOSE_CODE_DEACTIVATED = 4003


def session_key_fingerprint(session_key: str) -> str:
    """Stable non-secret identifier of a session, safe to pass through the channel layer."""
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


def user_update_profile(
    *,
    user: User,
    display_name: str | None = None,
    time_zone: str | None = None,
    language: str | None = None,
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

    `actor` is the administrator (None: the system, e.g. the directory sync, with a `reason`).
    """
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
    user.is_active = True
    user.save(update_fields=["is_active"])
    audit_record(
        action=AuditAction.USER_REACTIVATED,
        actor=actor,
        target=user,
        metadata={"reason": reason} if reason else None,
    )


def user_set_role(*, user: User, role: str, actor: User | None = None, reason: str = "") -> User:
    """Change a user's organisation role; staff and superuser flags follow it (admin access)."""
    if role not in Role.values:
        raise InvalidInput(_("Unknown role."), code="invalid_role")
    if role == user.role:
        return user
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


def api_token_revoke(*, user: User, token_id: int) -> None:
    """Revoke one of the user's own tokens."""
    updated = APIToken.objects.filter(pk=token_id, user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if not updated:
        raise NotFound(_("No such token."))
    audit_record(
        action=AuditAction.TOKEN_REVOKED,
        actor=user,
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
)


@transaction.atomic
def organization_settings_update(*, actor: User, changes: dict[str, str]) -> OrganizationSettings:
    """Change organisation rules; audited with old and new values."""

    def valid(name: str, value: str) -> bool:
        choices = getattr(OrganizationSettings._meta.get_field(name), "choices", None) or ()
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
    """
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
