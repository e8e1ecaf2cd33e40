"""The accounts write layer: users, profiles, sessions, API tokens, deactivation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from importlib import import_module
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.sessions.models import Session
from django.utils import timezone

from apps.accounts import services
from apps.accounts.models import APIToken, Role, User, UserSession
from apps.accounts.tokens import token_digest, user_for_token
from apps.core.events import user_topic
from tests.chat.support import raises_domain_error

pytestmark = pytest.mark.django_db

MakeUser = Callable[..., User]


def open_session(user: User) -> str:
    """A signed-in browser session of `user`, recorded as the log-in signal does."""
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store["_auth_user_id"] = str(user.pk)
    store.create()
    services.session_record(
        user=user, session_key=store.session_key, ip_address="10.0.0.1", user_agent="pytest"
    )
    return store.session_key


# --- user_create -------------------------------------------------------------------------------


def test_user_create_makes_an_active_user_who_can_sign_in() -> None:
    user = services.user_create(username="dana", password="s3cret-pass", email="d@example.com")

    assert user.is_active
    assert authenticate(username="dana", password="s3cret-pass") == user


def test_user_create_strips_the_username() -> None:
    assert services.user_create(username="  dana ", password="x").username == "dana"


def test_user_create_refuses_blank_username() -> None:
    with raises_domain_error("username_required", 400):
        services.user_create(username="   ", password="x")


def test_user_create_refuses_username_taken_in_other_case(make_user: MakeUser) -> None:
    make_user(username="dana")

    with raises_domain_error("username_taken", 400):
        services.user_create(username="DANA", password="x")


def test_user_create_refuses_unknown_role() -> None:
    with raises_domain_error("invalid_role", 400):
        services.user_create(username="dana", password="x", role="superhero")


def test_user_create_without_password_leaves_it_unusable() -> None:
    user = services.user_create(username="ldap-user", password=None)

    assert not user.has_usable_password()


@pytest.mark.parametrize(
    ("role", "is_staff", "is_superuser"),
    [
        (Role.OWNER, True, True),
        (Role.ADMIN, True, False),
        (Role.MEMBER, False, False),
        (Role.GUEST, False, False),
    ],
)
def test_user_create_derives_django_admin_flags_from_role(
    role: str, is_staff: bool, is_superuser: bool
) -> None:
    user = services.user_create(username="dana", password="x", role=role)

    assert (user.is_staff, user.is_superuser) == (is_staff, is_superuser)


# --- user_update_profile -----------------------------------------------------------------------


def test_profile_update_trims_display_name(user: User) -> None:
    services.user_update_profile(user=user, display_name="  Dana Scully  ")

    user.refresh_from_db()
    assert user.display_name == "Dana Scully"


def test_profile_update_sets_time_zone_and_language(user: User) -> None:
    services.user_update_profile(user=user, time_zone="Asia/Shanghai", language="zh-hans")

    user.refresh_from_db()
    assert (user.time_zone, user.language) == ("Asia/Shanghai", "zh-hans")


def test_profile_update_refuses_unknown_time_zone(user: User) -> None:
    with raises_domain_error("invalid_time_zone", 400):
        services.user_update_profile(user=user, time_zone="Mars/Olympus")


def test_profile_update_refuses_unsupported_language(user: User) -> None:
    with raises_domain_error("invalid_language", 400):
        services.user_update_profile(user=user, language="tlh")


def test_profile_update_accepts_blank_language_as_browser_default(user: User) -> None:
    services.user_update_profile(user=user, language="zh-hans")
    services.user_update_profile(user=user, language="")

    user.refresh_from_db()
    assert user.language == ""


# --- sessions and deactivation -------------------------------------------------------------------


def test_session_record_remembers_the_log_in(user: User) -> None:
    key = open_session(user)

    record = UserSession.objects.get(session_key=key)
    assert (record.user, record.ip_address, record.user_agent) == (user, "10.0.0.1", "pytest")


def test_session_end_forgets_the_session(user: User) -> None:
    key = open_session(user)

    services.session_end(user=user, session_key=key)

    assert not UserSession.objects.filter(session_key=key).exists()


def test_deactivate_marks_user_inactive(user: User) -> None:
    services.user_deactivate(user=user)

    user.refresh_from_db()
    assert not user.is_active


def test_deactivate_deletes_the_users_sessions(user: User) -> None:
    keys = [open_session(user), open_session(user)]

    services.user_deactivate(user=user)

    assert not Session.objects.filter(session_key__in=keys).exists()
    assert not UserSession.objects.filter(user=user).exists()


def test_deactivate_keeps_other_users_sessions(user: User, make_user: MakeUser) -> None:
    other = make_user()
    other_key = open_session(other)
    open_session(user)

    services.user_deactivate(user=user)

    assert Session.objects.filter(session_key=other_key).exists()


def test_deactivate_revokes_every_token(user: User) -> None:
    _token, raw = services.api_token_create(user=user, name="laptop")
    services.api_token_create(user=user, name="phone")

    services.user_deactivate(user=user)

    assert not APIToken.objects.filter(user=user, revoked_at__isnull=True).exists()
    assert user_for_token(raw) is None


def test_deactivate_keeps_the_time_of_an_earlier_revocation(user: User) -> None:
    token, _raw = services.api_token_create(user=user, name="old")
    earlier = timezone.now() - timedelta(days=3)
    APIToken.objects.filter(pk=token.pk).update(revoked_at=earlier)

    services.user_deactivate(user=user)

    token.refresh_from_db()
    assert token.revoked_at == earlier


def test_reactivated_user_can_sign_in_again(make_user: MakeUser) -> None:
    user = make_user(username="dana")
    services.user_deactivate(user=user)

    services.user_reactivate(user=user)

    from tests.factories import PASSWORD

    assert authenticate(username="dana", password=PASSWORD) == user


@pytest.mark.django_db(transaction=True)
def test_deactivate_closes_every_socket_of_the_user(
    user: User, captured_controls: list[dict[str, Any]]
) -> None:
    services.user_deactivate(user=user)

    assert captured_controls == [
        {
            "topics": [user_topic(user.pk)],
            "type": "client.control",
            "action": "close",
            "session": None,
            "code": services.CLOSE_CODE_DEACTIVATED,
        }
    ]


@pytest.mark.django_db(transaction=True)
def test_session_end_closes_only_sockets_of_that_session(
    user: User, captured_controls: list[dict[str, Any]]
) -> None:
    key = open_session(user)

    services.session_end(user=user, session_key=key)

    (control,) = captured_controls
    assert control["action"] == "close"
    assert control["session"] == services.session_key_fingerprint(key)
    assert key not in str(control), "the raw session key must not travel the channel layer"


# --- API tokens --------------------------------------------------------------------------------


def test_token_create_returns_raw_value_once_and_stores_only_its_digest(user: User) -> None:
    token, raw = services.api_token_create(user=user, name="ci")

    assert raw.startswith("enc_")
    assert token.digest == token_digest(raw)
    assert token.prefix == raw[:12]
    assert not APIToken.objects.filter(digest=raw).exists()
    assert raw not in str(APIToken.objects.filter(pk=token.pk).values().get())


def test_token_create_makes_distinct_tokens(user: User) -> None:
    _first, raw_first = services.api_token_create(user=user, name="a")
    _second, raw_second = services.api_token_create(user=user, name="b")

    assert raw_first != raw_second


def test_token_create_refuses_blank_name(user: User) -> None:
    with raises_domain_error("token_name_required", 400):
        services.api_token_create(user=user, name="  ")


def test_token_create_stores_expiry(user: User) -> None:
    expires = timezone.now() + timedelta(days=30)

    token, _raw = services.api_token_create(user=user, name="ci", expires_at=expires)

    assert token.expires_at == expires


def test_token_revoke_revokes_own_token(user: User) -> None:
    token, raw = services.api_token_create(user=user, name="ci")

    services.api_token_revoke(user=user, token_id=token.pk)

    assert user_for_token(raw) is None


def test_token_revoke_of_someone_elses_token_is_not_found(user: User, make_user: MakeUser) -> None:
    token, raw = services.api_token_create(user=make_user(), name="theirs")

    with raises_domain_error("not_found", 404):
        services.api_token_revoke(user=user, token_id=token.pk)
    assert user_for_token(raw) is not None


def test_token_revoke_twice_is_not_found(user: User) -> None:
    token, _raw = services.api_token_create(user=user, name="ci")
    services.api_token_revoke(user=user, token_id=token.pk)

    with raises_domain_error("not_found", 404):
        services.api_token_revoke(user=user, token_id=token.pk)
