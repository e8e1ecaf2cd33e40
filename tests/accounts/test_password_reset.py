"""Password reset by e-mail (local accounts only)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import authenticate
from django.core import mail
from django.test import Client
from django.urls import reverse

from apps.accounts.models import User
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]

NEW_PASSWORD = "a-brand-new-long-passphrase-42"


def ask_reset(email: str) -> Client:
    client = Client()
    response = client.post(reverse("accounts:password-reset"), {"email": email})
    assert response["Location"] == reverse("accounts:password-reset-done")
    return client


def test_local_user_sets_a_new_password_through_the_emailed_link() -> None:
    UserFactory(username="lena", email="lena@example.com")
    client = ask_reset("lena@example.com")
    [message] = mail.outbox
    link = re.search(r"https?://[^/]+(/accounts/password-reset/\S+/)", message.body)
    assert link is not None

    form_page = client.get(link.group(1), follow=True)
    done = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert message.to == ["lena@example.com"]
    assert done["Location"] == reverse("accounts:password-reset-complete")
    assert authenticate(None, username="lena", password=NEW_PASSWORD) is not None


def test_reset_link_works_only_once() -> None:
    UserFactory(username="lena", email="lena@example.com")
    client = ask_reset("lena@example.com")
    path = re.search(r"https?://[^/]+(/accounts/password-reset/\S+/)", mail.outbox[0].body)
    assert path is not None
    set_url = client.get(path.group(1), follow=True).redirect_chain[-1][0]
    client.post(set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    again = Client().get(path.group(1), follow=True)

    assert not again.context["validlink"]


def test_directory_users_get_no_reset_email() -> None:
    user: User = UserFactory(username="dirk", email="dirk@example.com")
    user.set_unusable_password()
    user.save(update_fields=["password"])

    ask_reset("dirk@example.com")

    assert mail.outbox == []


def test_unknown_address_looks_the_same_and_sends_nothing() -> None:
    ask_reset("nobody@example.com")

    assert mail.outbox == []


def test_password_reset_requests_for_one_address_are_rate_limited(settings) -> None:
    settings.ENCLAVE_PASSWORD_RESET_PER_EMAIL = 2
    UserFactory(username="rita", email="rita@example.com")
    ask_reset("rita@example.com")
    ask_reset("RITA@example.com")

    response = Client().post(reverse("accounts:password-reset"), {"email": "rita@example.com"})

    assert response.status_code == 200
    assert "Too many reset requests" in response.content.decode()
    assert len(mail.outbox) == 2


def test_password_reset_rate_limit_answers_the_same_for_unknown_addresses(settings) -> None:
    settings.ENCLAVE_PASSWORD_RESET_PER_EMAIL = 1
    UserFactory(username="sam", email="sam@example.com")
    answers = []
    for email in ("sam@example.com", "nobody@example.com"):
        ask_reset(email)
        answers.append(
            Client().post(reverse("accounts:password-reset"), {"email": email}).status_code
        )

    assert answers == [200, 200]


def test_password_reset_requests_from_one_ip_are_rate_limited(settings) -> None:
    settings.ENCLAVE_PASSWORD_RESET_PER_IP = 2
    ask_reset("one@example.com")
    ask_reset("two@example.com")

    response = Client().post(reverse("accounts:password-reset"), {"email": "three@example.com"})

    assert "Too many reset requests" in response.content.decode()
