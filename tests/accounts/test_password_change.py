"""Changing one's own password from the account pages (local accounts only)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from apps.accounts.models import DirectoryProfile
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-brand-new-long-passphrase-42"


def signed_in(username: str) -> Client:
    client = Client()
    assert client.login(username=username, password=PASSWORD)
    return client


def test_user_changes_password_and_signs_in_with_the_new_one() -> None:
    UserFactory(username="pia")
    client = signed_in("pia")
    response = client.post(
        reverse("accounts:password-change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:password-change-done")
    assert client.get(reverse("accounts:password-change-done")).status_code == 200
    assert Client().login(username="pia", password=NEW_PASSWORD)
    assert not Client().login(username="pia", password=PASSWORD)


def test_wrong_old_password_is_refused() -> None:
    UserFactory(username="pia")
    client = signed_in("pia")
    response = client.post(
        reverse("accounts:password-change"),
        {"old_password": "not-it", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["old_password"]
    assert Client().login(username="pia", password=PASSWORD)


def test_anonymous_is_sent_to_sign_in() -> None:
    response = Client().get(reverse("accounts:password-change"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_directory_user_sees_a_note_instead_of_the_form() -> None:
    user = UserFactory(username="dora")
    DirectoryProfile.objects.create(user=user, dn="uid=dora,ou=people,dc=example,dc=com")
    client = signed_in("dora")
    response = client.get(reverse("accounts:password-change"))
    assert response.status_code == 200
    assert response.context["directory_user"] is True
    assert b"old_password" not in response.content
    refused = client.post(
        reverse("accounts:password-change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert refused.status_code == 200
    assert Client().login(username="dora", password=PASSWORD)
