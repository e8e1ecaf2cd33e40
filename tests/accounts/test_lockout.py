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


def test_locked_out_account_cannot_get_an_api_token(settings: Any, empty_cache: None) -> None:
    UserFactory(username="victim")
    fail("victim", settings.AXES_FAILURE_LIMIT)

    response = Client(REMOTE_ADDR="10.0.0.7").post(
        "/api/v1/auth/token/",
        {"username": "victim", "password": PASSWORD, "name": "cli"},
        content_type="application/json",
    )

    assert response.status_code in (401, 429)


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
