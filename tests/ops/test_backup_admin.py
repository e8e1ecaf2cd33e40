"""The admin's read-only pages of backup runs and restore drills: the owner and administrators
see them; members, guests and anonymous visitors do not; nobody adds, changes or deletes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Role, User
from apps.ops.models import BackupRun, JobStatus, RestoreDrill
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PAGES = ("admin:ops_backuprun_changelist", "admin:ops_restoredrill_changelist")


def client_of(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def owner() -> User:
    return UserFactory(role=Role.OWNER, is_staff=True, is_superuser=True)


def administrator() -> User:
    return UserFactory(role=Role.ADMIN, is_staff=True, is_superuser=False)


def finished_runs() -> tuple[BackupRun, RestoreDrill]:
    now = timezone.now()
    run = BackupRun.objects.create(
        started_at=now - timedelta(minutes=75),
        finished_at=now - timedelta(minutes=1),
        duration_seconds=4440.0,
        status=JobStatus.SUCCEEDED,
        name="enclave-20260101T023000Z",
        size_bytes=3 * 1024 * 1024,
    )
    drill = RestoreDrill.objects.create(
        started_at=now,
        finished_at=now,
        duration_seconds=65.0,
        status=JobStatus.FAILED,
        backup_name=run.name,
        error="table chat_message has a different checksum than the manifest",
    )
    return run, drill


@pytest.mark.parametrize("make_user", [owner, administrator], ids=["owner", "admin"])
def test_owner_and_admins_see_the_last_backup_and_drill_with_their_duration(
    make_user: Callable[[], User],
) -> None:
    run, _drill = finished_runs()
    client = client_of(make_user())
    backups = client.get(reverse(PAGES[0]))
    assert backups.status_code == 200
    assert run.name in backups.content.decode()
    assert "1:14:00" in backups.content.decode()  # 4,440 seconds
    assert client.get(reverse("admin:ops_backuprun_change", args=[run.pk])).status_code == 200
    drills = client.get(reverse(PAGES[1]))
    assert drills.status_code == 200
    assert "1:05" in drills.content.decode()
    assert "different checksum" in drills.content.decode()
    assert client.get(reverse("admin:index")).content.decode().count("/admin/ops/") >= 2


@pytest.mark.parametrize("role", [Role.MEMBER, Role.GUEST])
def test_members_and_guests_are_sent_to_the_admin_log_in(role: str) -> None:
    client = client_of(UserFactory(role=role))
    for page in PAGES:
        response = client.get(reverse(page))
        assert response.status_code == 302
        assert "/login/" in response["Location"]


def test_anonymous_visitors_are_sent_to_the_admin_log_in() -> None:
    for page in PAGES:
        response = Client().get(reverse(page))
        assert response.status_code == 302


def test_staff_flag_without_an_admin_role_is_not_enough() -> None:
    client = client_of(UserFactory(role=Role.MEMBER, is_staff=True))
    for page in PAGES:
        assert client.get(reverse(page)).status_code == 403


def test_nobody_adds_changes_or_deletes_records() -> None:
    run, _drill = finished_runs()
    client = client_of(owner())
    assert client.get(reverse("admin:ops_backuprun_add")).status_code == 403
    assert client.get(reverse("admin:ops_backuprun_delete", args=[run.pk])).status_code == 403
    response = client.post(
        reverse("admin:ops_backuprun_change", args=[run.pk]), {"status": JobStatus.FAILED}
    )
    assert response.status_code == 403
    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED
