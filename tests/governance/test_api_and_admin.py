"""REST and admin console of governance: who may set what, and what they see."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from apps.accounts.models import AuditEvent, Role, User
from apps.chat.models import Channel
from apps.governance.audit import LEGAL_HOLD_CREATED, LEGAL_HOLD_RELEASED
from apps.governance.models import LegalHold, RetentionPolicy

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(make_user: Callable[..., User]) -> User:
    return make_user()


@pytest.fixture
def channel(make_channel: Callable[..., Channel], member: User) -> Channel:
    return make_channel(members=(member,))


def test_members_read_their_channel_retention(
    client_for: Callable[[User | None], APIClient],
    make_user: Callable[..., User],
    member: User,
    channel: Channel,
) -> None:
    admin = make_user(Role.ADMIN)
    client_for(admin).put(reverse("governance_api:org-retention"), {"days": 30}, format="json")

    answer = client_for(member).get(reverse("governance_api:channel-retention", args=[channel.pk]))

    assert answer.status_code == 200
    assert answer.json() == {
        "channel_id": channel.pk,
        "days": 30,
        "source": "organisation",
        "summary": "Messages older than 30 days are deleted.",
    }


def test_a_channel_policy_is_read_as_the_channels_own(
    client_for: Callable[[User | None], APIClient], member: User, channel: Channel
) -> None:
    RetentionPolicy.objects.create(channel=channel, days=7)

    answer = client_for(member).get(
        reverse("governance_api:channel-retention", args=[channel.pk]),
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )

    assert answer.json()["days"] == 7
    assert answer.json()["source"] == "channel"


def test_a_member_cannot_set_retention_over_rest(
    client_for: Callable[[User | None], APIClient], member: User, channel: Channel
) -> None:
    client = client_for(member)

    org = client.put(reverse("governance_api:org-retention"), {"days": 1}, format="json")
    own = client.put(
        reverse("governance_api:channel-retention", args=[channel.pk]),
        {"mode": "delete", "days": 1},
        format="json",
    )

    assert (org.status_code, org.json()["code"]) == (403, "not_org_admin")
    assert (own.status_code, own.json()["code"]) == (403, "not_org_admin")
    assert not RetentionPolicy.objects.exists()


def test_an_admin_sets_a_channel_policy_and_back_to_inherit(
    client_for: Callable[[User | None], APIClient],
    make_user: Callable[..., User],
    channel: Channel,
) -> None:
    client = client_for(make_user(Role.ADMIN))
    url = reverse("governance_api:channel-retention", args=[channel.pk])

    kept = client.put(url, {"mode": "keep"}, format="json").json()
    inherited = client.put(url, {"mode": "inherit"}, format="json").json()
    missing_days = client.put(url, {"mode": "delete"}, format="json")
    zero_days = client.put(url, {"mode": "delete", "days": 0}, format="json")

    assert (kept["days"], kept["source"]) == (None, "channel")
    assert inherited["source"] == "organisation"
    assert missing_days.status_code == zero_days.status_code == 400


def test_a_member_cannot_place_a_hold_over_rest(
    client_for: Callable[[User | None], APIClient], member: User, channel: Channel
) -> None:
    answer = client_for(member).post(
        reverse("governance_api:legal-holds"),
        {"name": "n", "reason": "r", "channel_ids": [channel.pk]},
        format="json",
    )

    assert (answer.status_code, answer.json()["code"]) == (403, "not_compliance_officer")
    assert not LegalHold.objects.exists()


def test_a_compliance_officer_places_and_releases_a_hold_over_rest(
    client_for: Callable[[User | None], APIClient], member: User, channel: Channel
) -> None:
    call_command("compliance_officer", member.username)
    client = client_for(User.objects.get(pk=member.pk))

    placed = client.post(
        reverse("governance_api:legal-holds"),
        {"name": "Case 1", "reason": "Audit", "user_ids": [member.pk]},
        format="json",
    )
    hold_id = placed.json()["id"]
    released = client.post(reverse("governance_api:legal-hold-release", args=[hold_id]))
    listed = client.get(reverse("governance_api:legal-holds")).json()

    assert placed.status_code == 201
    assert placed.json()["user_ids"] == [member.pk]
    assert released.json()["released_at"] is not None
    assert [hold["id"] for hold in listed] == [hold_id]
    assert (
        AuditEvent.objects.filter(
            action__in=[LEGAL_HOLD_CREATED, LEGAL_HOLD_RELEASED], actor_id=member.pk
        ).count()
        == 2
    )


# --- the admin console, per role -----------------------------------------------------------------


def admin_client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("role", "status"), [(Role.OWNER, 200), (Role.ADMIN, 200), (Role.MEMBER, 302)]
)
def test_retention_policies_page_per_role(
    role: str, status: int, make_user: Callable[..., User]
) -> None:
    user = make_user(role, is_staff=role != Role.MEMBER, is_superuser=role == Role.OWNER)

    page = admin_client(user).get(reverse("admin:governance_retentionpolicy_changelist"))

    assert page.status_code == status


@pytest.mark.parametrize(
    ("role", "officer", "status"),
    [
        (Role.OWNER, False, 200),
        (Role.ADMIN, True, 200),
        (Role.ADMIN, False, 403),
        (Role.MEMBER, False, 302),
    ],
)
def test_legal_holds_page_per_role(
    role: str, officer: bool, status: int, make_user: Callable[..., User]
) -> None:
    user = make_user(role, is_staff=role != Role.MEMBER, is_superuser=role == Role.OWNER)
    if officer:
        call_command("compliance_officer", user.username)

    page = admin_client(user).get(reverse("admin:governance_legalhold_changelist"))

    assert page.status_code == status


def test_an_admin_sets_the_organisation_policy_in_the_console_audited(
    make_user: Callable[..., User],
) -> None:
    admin = make_user(Role.ADMIN, is_staff=True)

    answer = admin_client(admin).post(
        reverse("admin:governance_retentionpolicy_add"), {"channel": "", "days": "90"}
    )

    assert answer.status_code == 302
    assert RetentionPolicy.objects.get(channel__isnull=True).days == 90
    assert AuditEvent.objects.filter(action="retention.policy_changed", actor_id=admin.pk).exists()


def test_an_officer_places_and_releases_a_hold_in_the_console(
    make_user: Callable[..., User], member: User, channel: Channel
) -> None:
    officer = make_user(Role.ADMIN, is_staff=True)
    call_command("compliance_officer", officer.username)
    client = admin_client(officer)

    added = client.post(
        reverse("admin:governance_legalhold_add"),
        {"name": "Case 9", "reason": "Audit", "users": [member.pk], "channels": [channel.pk]},
    )
    hold = LegalHold.objects.get()
    client.post(
        reverse("admin:governance_legalhold_changelist"),
        {"action": "release_holds", "_selected_action": [hold.pk]},
    )

    assert added.status_code == 302
    assert list(hold.users.all()) == [member]
    hold.refresh_from_db()
    assert hold.released_at is not None
    assert hold.created_by == officer
    assert AuditEvent.objects.filter(action=LEGAL_HOLD_RELEASED, actor_id=officer.pk).exists()
