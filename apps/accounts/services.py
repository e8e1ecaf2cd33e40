"""Writes on accounts: users, sessions, API tokens, deactivation."""

from __future__ import annotations

import hashlib
from datetime import datetime

from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.models import APIToken, Role, User, UserSession
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
    return user


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
def user_deactivate(*, user: User) -> None:
    """Deactivate a user: end every session, revoke every token, close every socket at once."""
    now = timezone.now()
    user.is_active = False
    user.save(update_fields=["is_active"])
    keys = list(UserSession.objects.filter(user=user).values_list("session_key", flat=True))
    Session.objects.filter(session_key__in=keys).delete()
    UserSession.objects.filter(user=user).delete()
    APIToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=now)
    control_on_commit(user.pk, "close", session=None, code=CLOSE_CODE_DEACTIVATED)


def user_reactivate(*, user: User) -> None:
    """Allow a deactivated user to sign in again."""
    user.is_active = True
    user.save(update_fields=["is_active"])


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
    return token, raw


def api_token_revoke(*, user: User, token_id: int) -> None:
    """Revoke one of the user's own tokens."""
    updated = APIToken.objects.filter(pk=token_id, user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if not updated:
        raise NotFound(_("No such token."))
