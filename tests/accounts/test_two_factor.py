"""Two-factor authentication: enrolment, log-in with TOTP or a recovery code, requirement, reset."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts.audit import AuditAction
from apps.accounts.models import AuditEvent, OrganizationSettings, Role, User
from apps.accounts.two_factor import recovery_codes_issue, two_factor_enabled
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def code_for(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


def enrolled(user: User) -> tuple[TOTPDevice, list[str]]:
    device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    return device, recovery_codes_issue(user=user)


def password_step(username: str) -> tuple[Client, Any]:
    client = Client()
    response = client.post(reverse("accounts:login"), {"username": username, "password": PASSWORD})
    return client, response


# --- enrolment -----------------------------------------------------------------------------------


def test_enrolment_shows_a_qr_code_and_a_first_code_turns_2fa_on_with_recovery_codes() -> None:
    user = UserFactory()
    client = Client()
    client.force_login(user)
    url = reverse("accounts:two-factor")

    client.post(url, {"action": "start"})
    page = client.get(url).content.decode()
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    done = client.post(url, {"action": "confirm", "code": code_for(device)})

    assert "data:image/png;base64," in page
    assert two_factor_enabled(user)
    assert len(done.context["codes"]) == 10
    assert AuditEvent.objects.filter(action=AuditAction.TWO_FACTOR_ENABLED).exists()


def test_enrolment_with_a_wrong_code_leaves_2fa_off() -> None:
    user = UserFactory()
    client = Client()
    client.force_login(user)
    url = reverse("accounts:two-factor")
    client.post(url, {"action": "start"})

    response = client.post(url, {"action": "confirm", "code": "000000x"})

    assert response.context["error"]
    assert not two_factor_enabled(user)


def test_two_factor_page_needs_a_signed_in_user() -> None:
    response = Client().get(reverse("accounts:two-factor"))

    assert response.status_code == 302
    assert reverse("accounts:login") in response["Location"]


# --- log-in --------------------------------------------------------------------------------------


def test_password_alone_does_not_sign_in_a_user_with_2fa() -> None:
    enrolled(UserFactory(username="tina"))

    client, response = password_step("tina")

    assert response["Location"] == reverse("accounts:login-verify")
    assert "_auth_user_id" not in client.session


def test_user_signs_in_with_a_totp_code() -> None:
    user = UserFactory(username="tina")
    device, _codes = enrolled(user)
    client, _response = password_step("tina")

    response = client.post(reverse("accounts:login-verify"), {"code": code_for(device)})

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)
    assert client.session["otp_device_id"] == device.persistent_id


def test_user_signs_in_with_a_recovery_code_that_then_stops_working() -> None:
    user = UserFactory(username="tina")
    _device, codes = enrolled(user)
    client, _response = password_step("tina")

    response = client.post(reverse("accounts:login-verify"), {"code": codes[0]})
    again, _response = password_step("tina")
    reused = again.post(reverse("accounts:login-verify"), {"code": codes[0]})

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)
    assert reused.status_code == 200
    assert "_auth_user_id" not in again.session


def test_wrong_code_does_not_sign_in_and_is_audited() -> None:
    enrolled(UserFactory(username="tina"))
    client, _response = password_step("tina")

    response = client.post(reverse("accounts:login-verify"), {"code": "123456"})

    assert response.status_code == 200
    assert response.context["error"]
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action=AuditAction.TWO_FACTOR_FAILED).exists()


def test_repeated_wrong_codes_send_the_user_back_to_the_password() -> None:
    enrolled(UserFactory(username="tina"))
    client, _response = password_step("tina")

    for _ in range(5):
        last = client.post(reverse("accounts:login-verify"), {"code": "123456"})

    assert last["Location"] == reverse("accounts:login")
    assert client.get(reverse("accounts:login-verify"))["Location"] == reverse("accounts:login")


def test_verify_page_without_a_password_step_goes_to_log_in() -> None:
    response = Client().get(reverse("accounts:login-verify"))

    assert response["Location"] == reverse("accounts:login")


def test_api_token_needs_the_second_factor_for_2fa_accounts(empty_cache: None) -> None:
    device, _codes = enrolled(UserFactory(username="tina"))
    url = "/api/v1/auth/token/"
    body = {"username": "tina", "password": PASSWORD}

    refused = Client().post(url, body, content_type="application/json")
    accepted = Client().post(
        url, {**body, "otp": code_for(device)}, content_type="application/json"
    )

    assert refused.status_code == 401
    assert refused.json()["code"] == "otp_required"
    assert accepted.status_code == 201


def test_admin_login_form_is_replaced_by_the_enclave_log_in() -> None:
    response = Client().get("/admin/login/?next=/admin/")

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


# --- requirement and reset -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requirement", "role", "forced"),
    [
        ("admins", Role.ADMIN, True),
        ("admins", Role.OWNER, True),
        ("admins", Role.MEMBER, False),
        ("everyone", Role.MEMBER, True),
        ("nobody", Role.ADMIN, False),
    ],
)
def test_organisation_requirement_sends_users_without_2fa_to_set_it_up(
    requirement: str, role: str, forced: bool
) -> None:
    OrganizationSettings.objects.update_or_create(
        pk=1, defaults={"two_factor_required_for": requirement}
    )
    client = Client()
    client.force_login(UserFactory(role=role))

    response = client.get("/")

    if forced:
        assert response["Location"] == reverse("accounts:two-factor")
    else:
        assert response.status_code == 200


def test_required_2fa_lets_enrolled_users_through() -> None:
    OrganizationSettings.objects.update_or_create(
        pk=1, defaults={"two_factor_required_for": "everyone"}
    )
    user = UserFactory()
    enrolled(user)
    client = Client()
    client.force_login(user)

    assert client.get("/").status_code == 200


def test_admin_resets_2fa_of_a_user_who_lost_their_phone() -> None:
    user = UserFactory(username="tina")
    enrolled(user)
    boss = UserFactory(username="boss", role=Role.OWNER, is_staff=True, is_superuser=True)
    admin = Client()
    admin.force_login(boss)

    admin.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "reset_two_factor", "_selected_action": [user.pk]},
    )
    _client, response = password_step("tina")

    assert not two_factor_enabled(user)
    assert response.status_code == 302
    assert response["Location"] != reverse("accounts:login-verify")
    event = AuditEvent.objects.get(action=AuditAction.TWO_FACTOR_RESET)
    assert event.actor_label == "boss"
