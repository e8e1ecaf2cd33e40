"""Brute-force protection (django-axes): lock-out after repeated failures, and unlock."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from apps.accounts.audit import AuditAction
from apps.accounts.models import AuditEvent, Role, User
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def attempt(username: str, password: str, *, ip: str = "10.0.0.7") -> tuple[Client, Any]:
    client = Client(REMOTE_ADDR=ip)
    response = client.post(reverse("accounts:login"), {"username": username, "password": password})
    return client, response


def fail(username: str, times: int, *, ip: str = "10.0.0.7") -> None:
    for _ in range(times):
        attempt(username, "wrong-password", ip=ip)


def test_account_is_locked_after_the_failure_limit_even_with_the_right_password(
    settings: Any,
) -> None:
    UserFactory(username="victim")
    fail("victim", settings.AXES_FAILURE_LIMIT)

    client, response = attempt("victim", PASSWORD)

    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_failures_below_the_limit_do_not_lock(settings: Any) -> None:
    UserFactory(username="clumsy")
    fail("clumsy", settings.AXES_FAILURE_LIMIT - 1)

    _client, response = attempt("clumsy", PASSWORD)

    assert response.status_code == 302


def token_attempt(username: str, password: str, *, ip: str = "10.0.0.7") -> Any:
    return Client(REMOTE_ADDR=ip).post(
        "/api/v1/auth/token/",
        {"username": username, "password": password, "name": "cli"},
        content_type="application/json",
    )


def test_locked_out_account_cannot_get_an_api_token(settings: Any, empty_cache: None) -> None:
    UserFactory(username="victim")
    fail("victim", settings.AXES_FAILURE_LIMIT)

    response = token_attempt("victim", PASSWORD)

    assert response.status_code == 429
    assert response.json()["code"] == "account_locked"


def test_token_failures_lock_the_account_with_a_lock_out_code(
    settings: Any, empty_cache: None
) -> None:
    UserFactory(username="victim")
    codes = [
        token_attempt("victim", "wrong-password").json()["code"]
        for _ in range(settings.AXES_FAILURE_LIMIT)
    ]

    response = token_attempt("victim", PASSWORD)

    assert codes[:-1] == ["invalid_credentials"] * (settings.AXES_FAILURE_LIMIT - 1)
    assert codes[-1] == "account_locked"  # the failure that reaches the limit locks
    assert (response.status_code, response.json()["code"]) == (429, "account_locked")
    _client, form = attempt("victim", PASSWORD)
    assert form.status_code == 429  # the same lock as the log-in form


def test_token_sign_in_resets_the_failure_count_like_the_form(
    settings: Any, empty_cache: None
) -> None:
    UserFactory(username="clumsy")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        token_attempt("clumsy", "wrong-password")
    assert token_attempt("clumsy", PASSWORD).status_code == 201
    for _ in range(2):
        token_attempt("clumsy", "wrong-password")

    response = token_attempt("clumsy", PASSWORD)

    assert response.status_code == 201


def test_token_endpoint_documents_the_lock_out_code() -> None:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    responses = schema["paths"]["/api/v1/auth/token/"]["post"]["responses"]

    assert "account_locked" in responses["429"]["description"]
    assert "directory_unavailable" in responses["503"]["description"]
    assert "invalid_credentials" in responses["401"]["description"]


def test_lock_out_is_audited(settings: Any) -> None:
    UserFactory(username="victim")

    fail("victim", settings.AXES_FAILURE_LIMIT)

    event = AuditEvent.objects.get(action=AuditAction.LOCKED_OUT)
    assert event.target_label == "victim"
    assert event.ip_address == "10.0.0.7"


def test_admin_unlock_lets_the_user_sign_in_again_and_is_audited(settings: Any) -> None:
    victim = UserFactory(username="victim")
    fail("victim", settings.AXES_FAILURE_LIMIT)
    boss = UserFactory(username="boss", role=Role.OWNER, is_staff=True, is_superuser=True)
    admin = Client()
    admin.force_login(boss)

    admin.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "unlock_users", "_selected_action": [victim.pk]},
    )
    _client, response = attempt("victim", PASSWORD)

    assert response.status_code == 302
    event = AuditEvent.objects.get(action=AuditAction.USER_UNLOCKED)
    assert (event.actor_label, event.target_id) == ("boss", str(victim.pk))


def test_non_staff_cannot_unlock(settings: Any) -> None:
    victim = UserFactory(username="victim")
    fail("victim", settings.AXES_FAILURE_LIMIT)
    member = Client()
    member.force_login(UserFactory())

    member.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "unlock_users", "_selected_action": [victim.pk]},
    )
    _client, response = attempt("victim", PASSWORD)

    assert response.status_code == 429
    assert User.objects.filter(username="victim").exists()
