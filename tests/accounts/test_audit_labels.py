"""The audit log in the admin shows what happened in words, not codes (`auth.login` -> "log-in"),
in the admin's language; the CSV export keeps the stable codes."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from apps.accounts.audit import AuditAction, audit_action_label, audit_record
from apps.accounts.models import Role, User
from apps.files.audit import FILE_QUARANTINED
from apps.ops.flags.services import FLAG_CREATED
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:accounts_auditevent_changelist"


def owner(**kwargs: object) -> User:
    return UserFactory(role=Role.OWNER, is_staff=True, is_superuser=True, **kwargs)


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def action_cells(html: str) -> list[str]:
    marker = '<td class="field-action_display">'
    return [part.split("</td>", 1)[0] for part in html.split(marker)[1:]]


def test_the_list_shows_labels_instead_of_codes() -> None:
    audit_record(action=AuditAction.LOGIN_SUCCEEDED, target_label="dana")
    audit_record(action=AuditAction.TOKEN_REVOKED, target_label="ci-token")

    html = signed_in(owner()).get(reverse(CHANGELIST)).content.decode()

    # The owner's own sign-in (force_login) is a log-in too.
    assert set(action_cells(html)) == {"API token revoked", "log-in"}
    assert ">auth.login<" not in html


def test_codes_of_other_apps_have_their_labels() -> None:
    assert audit_action_label(FILE_QUARANTINED) == "file quarantined"
    assert audit_action_label(FLAG_CREATED) == "feature flag created"
    assert audit_action_label("unknown.code") == "unknown.code"


def test_the_labels_are_translated() -> None:
    audit_record(action=AuditAction.LOGIN_SUCCEEDED, target_label="dana")
    audit_record(action=FILE_QUARANTINED, target_label="eicar.txt")

    response = signed_in(owner(language="zh-hans")).get(
        reverse(CHANGELIST), HTTP_ACCEPT_LANGUAGE="zh-hans"
    )

    assert set(action_cells(response.content.decode())) == {"登录", "文件已隔离"}


def test_the_action_filter_lists_labels_and_filters_by_code() -> None:
    audit_record(action=AuditAction.LOGIN_FAILED, target_label="mallory")
    audit_record(action=AuditAction.LOGOUT, target_label="dana")
    client = signed_in(owner())

    everything = client.get(reverse(CHANGELIST)).content.decode()
    failed = client.get(
        reverse(CHANGELIST), {"action__exact": AuditAction.LOGIN_FAILED}
    ).content.decode()

    assert "?action__exact=auth.login_failed" in everything
    assert ">log-in failed</a>" in everything
    assert "mallory" in failed
    assert "dana" not in failed


def test_an_events_page_shows_the_label() -> None:
    event = audit_record(action=AuditAction.ROLE_CHANGED, target_label="dana")

    html = (
        signed_in(owner())
        .get(reverse("admin:accounts_auditevent_change", args=[event.pk]))
        .content.decode()
    )

    assert "role changed" in html
    assert "user.role_changed" not in html
