"""The user's session list and "sign out everywhere else", over REST, the page and the admin."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from apps.accounts.audit import AuditAction
from apps.accounts.models import AuditEvent, Role, User, UserSession
from apps.accounts.services import CLOSE_CODE_SESSION_ENDED, session_key_fingerprint
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def signed_in(user: User, agent: str) -> Client:
    client = Client(HTTP_USER_AGENT=agent)
    response = client.post(
        reverse("accounts:login"), {"username": user.username, "password": PASSWORD}
    )
    assert response.status_code == 302
    return client


def test_session_list_shows_every_session_and_marks_this_one() -> None:
    user = UserFactory()
    laptop = signed_in(user, "Laptop")
    signed_in(user, "Phone")

    sessions = laptop.get("/api/v1/auth/sessions/").json()

    assert sorted(s["user_agent"] for s in sessions) == ["Laptop", "Phone"]
    assert [s["user_agent"] for s in sessions if s["current"]] == ["Laptop"]


def test_session_list_shows_only_ones_own_sessions() -> None:
    user = UserFactory()
    signed_in(UserFactory(), "Someone else")

    sessions = signed_in(user, "Mine").get("/api/v1/auth/sessions/").json()

    assert [s["user_agent"] for s in sessions] == ["Mine"]


def test_signing_out_other_sessions_keeps_this_one_and_ends_the_rest() -> None:
    user = UserFactory()
    laptop = signed_in(user, "Laptop")
    phone = signed_in(user, "Phone")

    response = laptop.post("/api/v1/auth/sessions/end-others/")

    assert response.json() == {"ended": 1}
    assert laptop.get("/api/v1/users/me/").status_code == 200
    assert phone.get("/api/v1/users/me/").status_code in (401, 403)
    assert list(UserSession.objects.values_list("user_agent", flat=True)) == ["Laptop"]
    assert AuditEvent.objects.get(action=AuditAction.SESSIONS_ENDED).metadata == {
        "count": 1,
        "kept_current": True,
    }


@pytest.mark.django_db(transaction=True)
def test_signing_out_other_sessions_closes_their_sockets(
    captured_controls: list[dict[str, Any]],
) -> None:
    user = UserFactory()
    laptop = signed_in(user, "Laptop")
    signed_in(user, "Phone")
    phone_key = UserSession.objects.get(user_agent="Phone").session_key

    laptop.post("/api/v1/auth/sessions/end-others/")

    closes = [(c["session"], c["code"]) for c in captured_controls if c["action"] == "close"]
    assert closes == [(session_key_fingerprint(phone_key), CLOSE_CODE_SESSION_ENDED)]


def test_sessions_page_lists_sessions_and_signs_out_the_others() -> None:
    user = UserFactory()
    laptop = signed_in(user, "Laptop")
    phone = signed_in(user, "Phone")

    page = laptop.get(reverse("accounts:sessions")).content.decode()
    laptop.post(reverse("accounts:sessions"))

    assert "Laptop" in page
    assert "Phone" in page
    assert phone.get("/api/v1/users/me/").status_code in (401, 403)


def test_admin_signs_a_user_out_everywhere() -> None:
    user = UserFactory()
    phone = signed_in(user, "Phone")
    boss = UserFactory(username="boss", role=Role.OWNER, is_staff=True, is_superuser=True)
    admin = Client()
    admin.force_login(boss)

    admin.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "sign_out_everywhere", "_selected_action": [user.pk]},
    )

    assert phone.get("/api/v1/users/me/").status_code in (401, 403)
    assert AuditEvent.objects.get(action=AuditAction.SESSIONS_ENDED).actor_label == "boss"
