"""Open sign-up, restricted to the organisation's allowed e-mail domains."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from apps.accounts.audit import AuditAction
from apps.accounts.models import AuditEvent, OrganizationSettings, Role, User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a long enough passphrase 42"


def open_signup(domains: str = "example.com\nacme.org", *, enabled: bool = True) -> None:
    OrganizationSettings.objects.update_or_create(
        pk=1, defaults={"open_signup_enabled": enabled, "signup_allowed_domains": domains}
    )


def sign_up(email: str, username: str = "newbie") -> Client:
    client = Client()
    client.post(
        reverse("accounts:signup"),
        {"email": email, "username": username, "password1": PASSWORD, "password2": PASSWORD},
    )
    return client


def test_signup_page_is_not_found_while_signup_is_closed() -> None:
    open_signup(enabled=False)
    assert Client().get(reverse("accounts:signup")).status_code == 404


def test_address_in_an_allowed_domain_gets_a_member_account_and_is_signed_in() -> None:
    open_signup()
    client = sign_up("Newbie@Example.COM")

    user = User.objects.get(username="newbie")
    assert user.role == Role.MEMBER
    assert user.email == "newbie@example.com"
    assert user.check_password(PASSWORD)
    assert client.get(reverse("accounts_api:me")).json()["id"] == user.pk
    assert AuditEvent.objects.filter(action=AuditAction.SIGNED_UP, actor_id=user.pk).exists()


@pytest.mark.parametrize(
    "email",
    [
        "eve@evil.org",
        "eve@sub.example.com",
        "eve@example.com.evil.org",
        "eve@notexample.com",
        "eve@example.com@evil.org",
        "eve@evil.org?@example.com",
    ],
)
def test_address_outside_the_allowed_domains_is_refused(email: str) -> None:
    open_signup()
    sign_up(email)
    assert not User.objects.filter(username="newbie").exists()


def test_refused_signup_is_audited_with_its_domain() -> None:
    open_signup()
    sign_up("eve@evil.org")

    event = AuditEvent.objects.get(action=AuditAction.SIGNUP_REFUSED)
    assert event.metadata == {"domain": "evil.org"}


def test_signup_with_an_address_that_has_an_account_creates_nothing() -> None:
    open_signup()
    UserFactory(email="taken@example.com")
    sign_up("taken@example.com", username="second")
    assert not User.objects.filter(username="second").exists()


def test_signup_refuses_a_weak_password() -> None:
    open_signup()
    Client().post(
        reverse("accounts:signup"),
        {"email": "a@example.com", "username": "weak", "password1": "123", "password2": "123"},
    )
    assert not User.objects.filter(username="weak").exists()
