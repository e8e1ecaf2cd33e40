"""REST and admin console of the compliance export: officers request, follow and download;
members and administrators without the permission are refused with a code."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.models import AuditEvent, Role, User
from apps.chat.models import Channel, Message
from apps.governance.compliance_export.audit import COMPLIANCE_EXPORT_DOWNLOADED
from apps.governance.models import ComplianceExport, ComplianceExportStatus
from tests.chat.support import send
from tests.governance.export_support import build_export, export_officer

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 1, tzinfo=UTC)
END = START + timedelta(days=1)


@pytest.fixture
def officer() -> User:
    return export_officer(is_staff=True)


@pytest.fixture
def channel(make_user: Callable[..., User], make_channel: Callable[..., Channel]) -> Channel:
    member = make_user()
    channel = make_channel(members=(member,), name="general")
    message = send(member, channel, "你好 <b>there</b>")
    Message.objects.filter(pk=message.pk).update(created_at=START + timedelta(hours=1))
    return channel


def body(channel: Channel) -> dict[str, Any]:
    return {"channel_ids": [channel.pk], "start": START.isoformat(), "end": END.isoformat()}


def streamed(response: Any) -> bytes:
    return b"".join(response.streaming_content)


# --- REST ----------------------------------------------------------------------------------------


def test_an_officer_requests_follows_and_downloads_an_export(
    client_for: Callable[[User | None], APIClient],
    officer: User,
    channel: Channel,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    client = client_for(officer)

    with django_capture_on_commit_callbacks(execute=True):
        created = client.post(reverse("governance_api:compliance-exports"), body(channel), "json")
    export_id = created.json()["id"]
    listed = client.get(reverse("governance_api:compliance-exports"))
    status = client.get(reverse("governance_api:compliance-export", args=[export_id]))
    download = client.get(reverse("governance_api:compliance-export-download", args=[export_id]))

    assert created.status_code == 202
    assert created.json()["status"] == "pending"  # the task runs after the commit
    assert status.json()["status"] == "ready"
    assert status.json()["message_count"] == 1
    assert [e["id"] for e in listed.json()] == [export_id]
    assert status.json()["channel_ids"] == [channel.pk]
    assert status.json()["expires_at"] is not None
    assert download.status_code == 200
    assert download["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(streamed(download)))
    assert "你好" in archive.read("messages.csv").decode("utf-8-sig")
    event = AuditEvent.objects.get(action=COMPLIANCE_EXPORT_DOWNLOADED)
    assert event.actor_id == officer.pk
    assert event.metadata["channel_ids"] == [channel.pk]


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MEMBER])
def test_without_the_permission_rest_refuses_with_a_code(
    role: str,
    client_for: Callable[[User | None], APIClient],
    make_user: Callable[..., User],
    officer: User,
    channel: Channel,
) -> None:
    export = build_export(officer, start=START, end=END)
    client = client_for(make_user(role))

    answers = [
        client.post(reverse("governance_api:compliance-exports"), body(channel), "json"),
        client.get(reverse("governance_api:compliance-exports")),
        client.get(reverse("governance_api:compliance-export", args=[export.pk])),
        client.get(reverse("governance_api:compliance-export-download", args=[export.pk])),
    ]

    assert [(a.status_code, a.json()["code"]) for a in answers] == [
        (403, "not_compliance_exporter")
    ] * 4
    assert ComplianceExport.objects.count() == 1
    assert not AuditEvent.objects.filter(action=COMPLIANCE_EXPORT_DOWNLOADED).exists()


def test_the_list_costs_a_fixed_number_of_queries(
    client_for: Callable[[User | None], APIClient],
    officer: User,
    channel: Channel,
    django_assert_num_queries: Callable[..., Any],
) -> None:
    for _ in range(3):
        build_export(officer, start=START, end=END)
    client = client_for(User.objects.get(pk=officer.pk))  # no permissions cached yet

    # The officer's permissions (two: the user's and their groups'), then the exports.
    with django_assert_num_queries(3):
        answer = client.get(reverse("governance_api:compliance-exports"))

    assert len(answer.json()) == 3


def test_an_expired_export_is_not_downloaded(
    client_for: Callable[[User | None], APIClient], officer: User, channel: Channel
) -> None:
    export = build_export(officer, start=START, end=END)
    ComplianceExport.objects.filter(pk=export.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    answer = client_for(officer).get(
        reverse("governance_api:compliance-export-download", args=[export.pk])
    )

    assert (answer.status_code, answer.json()["code"]) == (410, "compliance_export_expired")


def test_an_export_not_built_yet_is_not_downloaded(
    client_for: Callable[[User | None], APIClient], officer: User
) -> None:
    export = ComplianceExport.objects.create(start=START, end=END, requested_by=officer)

    answer = client_for(officer).get(
        reverse("governance_api:compliance-export-download", args=[export.pk])
    )

    assert (answer.status_code, answer.json()["code"]) == (409, "compliance_export_not_ready")
    assert export.status == ComplianceExportStatus.PENDING


def test_an_unknown_export_is_not_found(
    client_for: Callable[[User | None], APIClient], officer: User
) -> None:
    answer = client_for(officer).get(reverse("governance_api:compliance-export", args=[4242]))

    assert (answer.status_code, answer.json()["code"]) == (404, "compliance_export_not_found")


def test_a_malformed_range_is_refused(
    client_for: Callable[[User | None], APIClient], officer: User
) -> None:
    answer = client_for(officer).post(
        reverse("governance_api:compliance-exports"),
        {"start": "yesterday", "end": END.isoformat()},
        "json",
    )

    assert (answer.status_code, answer.json()["code"]) == (400, "invalid")
    assert not ComplianceExport.objects.exists()


# --- the admin console ---------------------------------------------------------------------------


def admin_client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def built(officer: User, channel: Channel) -> ComplianceExport:
    return build_export(officer, start=START, end=END)


@pytest.mark.parametrize(
    ("role", "exporter", "status"),
    [
        (Role.OWNER, False, 200),
        (Role.ADMIN, True, 200),
        (Role.ADMIN, False, 403),
        (Role.MEMBER, False, 302),
    ],
)
def test_the_exports_page_per_role(
    role: str,
    exporter: bool,
    status: int,
    make_user: Callable[..., User],
    built: ComplianceExport,
) -> None:
    flags = {"is_staff": role != Role.MEMBER, "is_superuser": role == Role.OWNER}
    user = export_officer(role, **flags) if exporter else make_user(role, **flags)

    page = admin_client(user).get(reverse("admin:governance_complianceexport_changelist"))

    assert page.status_code == status


def test_an_officer_downloads_from_the_exports_page(officer: User, built: ComplianceExport) -> None:
    client = admin_client(officer)
    link = reverse("admin:governance_complianceexport_download", args=[built.pk])

    page = client.get(reverse("admin:governance_complianceexport_changelist"))
    download = client.get(link)

    assert link in page.content.decode()
    assert download.status_code == 200
    assert zipfile.ZipFile(io.BytesIO(streamed(download))).namelist()
    assert AuditEvent.objects.filter(
        action=COMPLIANCE_EXPORT_DOWNLOADED, actor_id=officer.pk
    ).exists()


def test_an_admin_without_the_permission_cannot_download_in_the_console(
    make_user: Callable[..., User], built: ComplianceExport
) -> None:
    admin = make_user(Role.ADMIN, is_staff=True)

    download = admin_client(admin).get(
        reverse("admin:governance_complianceexport_download", args=[built.pk])
    )

    assert download.status_code == 403
    assert not AuditEvent.objects.filter(action=COMPLIANCE_EXPORT_DOWNLOADED).exists()
