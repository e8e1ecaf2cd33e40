"""Admin operations: quarantine list, release (audited), rescan, deletion, usage, retention."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import AuditEvent, Role, User
from apps.chat.models import Channel, ChannelKind
from apps.files import services, tasks
from apps.files.models import Attachment, AttachmentStatus, StoredBlob
from apps.files.storage import files_storage
from tests.files.support import EICAR, client_of, file_url, send_with

pytestmark = pytest.mark.django_db

MakeUser = Callable[..., User]


def _upload(user: User, data: bytes, name: str, status: str = "pending") -> Attachment:
    attachment = services.attachment_upload(uploader=user, source=io.BytesIO(data), name=name)
    Attachment.objects.filter(pk=attachment.pk).update(status=status)
    attachment.refresh_from_db()
    return attachment


@pytest.fixture
def admin(make_user: MakeUser) -> User:
    return make_user(role=Role.ADMIN)


def test_quarantine_lists_infected_and_failed_files(user: User, admin: User) -> None:
    infected = _upload(user, EICAR, "eicar.txt", AttachmentStatus.INFECTED)
    failed = _upload(user, b"x", "x.txt", AttachmentStatus.FAILED)
    _upload(user, b"fine", "fine.txt", AttachmentStatus.CLEAN)

    rows = client_of(admin).get(reverse("files_api:quarantine")).json()["results"]

    assert {row["id"] for row in rows} == {str(infected.pk), str(failed.pk)}
    assert {row["sha256"] for row in rows} == {infected.blob.sha256, failed.blob.sha256}


def test_an_infected_file_stays_in_quarantine_after_its_uploader_removes_it(
    user: User, admin: User
) -> None:
    infected = _upload(user, EICAR, "eicar.txt", AttachmentStatus.INFECTED)
    failed = _upload(user, b"x", "x.txt", AttachmentStatus.FAILED)
    for attachment in (infected, failed):
        services.attachment_delete(actor=user, attachment_id=attachment.pk)

    rows = client_of(admin).get(reverse("files_api:quarantine")).json()["results"]
    admin.is_staff = True  # as the role change to admin sets it
    admin.save(update_fields=["is_staff"])
    console = Client()
    console.force_login(admin)
    page = console.get(reverse("admin:files_attachment_changelist"), {"quarantine": "yes"})

    assert [row["id"] for row in rows] == [str(infected.pk)]
    assert rows[0]["deleted_at"] is not None
    assert "eicar.txt" in page.content.decode()
    assert "x.txt" not in page.content.decode()


def test_release_makes_a_file_downloadable_and_is_audited(user: User, admin: User) -> None:
    attachment = _upload(user, b"false positive", "report.txt", AttachmentStatus.INFECTED)

    response = client_of(admin).post(file_url("release", attachment))

    assert (response.status_code, response.json()["status"]) == (200, "clean")
    assert client_of(user).get(file_url("download", attachment)).status_code == 200
    event = AuditEvent.objects.get(action="file.released")
    assert (event.actor_id, event.target_id) == (admin.pk, str(attachment.pk))
    assert event.metadata["previous_status"] == "infected"


def test_members_cannot_release(user: User) -> None:
    attachment = _upload(user, b"x", "x.txt", AttachmentStatus.INFECTED)

    response = client_of(user).post(file_url("release", attachment))

    assert (response.status_code, response.json()["code"]) == (403, "not_org_admin")
    assert Attachment.objects.get(pk=attachment.pk).status == AttachmentStatus.INFECTED


def test_admin_deleting_someone_elses_file_is_audited(user: User, admin: User) -> None:
    attachment = _upload(user, b"x", "x.txt", AttachmentStatus.INFECTED)

    response = client_of(admin).delete(file_url("file", attachment))

    assert response.status_code == 204
    assert AuditEvent.objects.filter(action="file.deleted", actor_id=admin.pk).exists()
    assert client_of(user).get(file_url("file", attachment)).status_code == 404


def test_usage_per_user_and_channel(
    make_user: MakeUser, make_channel: Callable[..., Channel], admin: User
) -> None:
    alice, bob = make_user(), make_user()
    channel = make_channel(kind=ChannelKind.PUBLIC, members=(alice, bob))
    send_with(alice, channel, _upload(alice, b"a" * 100, "a.txt"))
    _upload(alice, b"b" * 50, "b.txt")
    _upload(bob, b"a" * 100, "same-bytes.txt")  # stored once

    usage = client_of(admin).get(reverse("files_api:usage")).json()

    assert usage["total_bytes"] == 150
    by_user = {row["id"]: (row["files"], row["bytes"]) for row in usage["by_user"]}
    assert by_user == {alice.pk: (2, 150), bob.pk: (1, 100)}
    assert [(row["id"], row["bytes"]) for row in usage["by_channel"]] == [(channel.pk, 100)]


def test_retention_purges_old_deletions_and_orphaned_bytes(user: User) -> None:
    kept = _upload(user, b"shared", "kept.txt")
    old = _upload(user, b"shared", "old-copy.txt")
    gone = _upload(user, b"only here", "gone.txt")
    recent = _upload(user, b"recently deleted", "recent.txt")
    for attachment in (old, gone):
        services.attachment_delete(actor=user, attachment_id=attachment.pk)
    services.attachment_delete(actor=user, attachment_id=recent.pk)
    Attachment.objects.filter(pk__in=[old.pk, gone.pk]).update(
        deleted_at=timezone.now() - timedelta(days=31)
    )

    kept_name, gone_name = kept.blob.storage_name, gone.blob.storage_name

    purged = tasks.purge_deleted_attachments()

    assert purged == 2
    assert set(Attachment.objects.values_list("pk", flat=True)) == {kept.pk, recent.pk}
    assert files_storage().exists(kept_name)  # still referenced by `kept`
    assert not files_storage().exists(gone_name)
    assert not StoredBlob.objects.filter(pk=gone.blob_id).exists()


def test_expired_upload_sessions_and_their_chunks_are_purged(user: User) -> None:
    from apps.files.models import UploadSession
    from apps.files.storage import chunk_name

    session = services.upload_session_create(uploader=user, name="a.txt", size=3)
    services.upload_session_put_chunk(user=user, session_id=session.pk, index=0, data=b"abc")
    UploadSession.objects.filter(pk=session.pk).update(expires_at=timezone.now())

    tasks.purge_deleted_attachments()

    assert not UploadSession.objects.exists()
    assert not files_storage().exists(chunk_name(session.pk, 0))


def test_deleting_a_message_deletes_its_files(
    make_user: MakeUser, make_channel: Callable[..., Channel]
) -> None:
    from apps.chat import services as chat_services

    alice = make_user()
    channel = make_channel(kind=ChannelKind.PUBLIC, members=(alice,))
    attachment = _upload(alice, b"x", "x.txt", AttachmentStatus.CLEAN)
    message = send_with(alice, channel, attachment)

    chat_services.message_delete(user=alice, message_id=message.pk)

    assert Attachment.objects.get(pk=attachment.pk).deleted_at is not None
    assert services.storage_used_by(alice) == 0


def test_uploader_can_delete_their_own_unattached_upload(user: User) -> None:
    attachment = _upload(user, b"oops", "oops.txt")

    response = client_of(user).delete(file_url("file", attachment))

    assert response.status_code == 204
    assert Attachment.objects.get(pk=attachment.pk).deleted_at is not None


def test_django_admin_pages_load(admin_client: object, user: User) -> None:
    _upload(user, EICAR, "eicar.txt", AttachmentStatus.INFECTED)

    for url in (
        "/admin/files/attachment/",
        "/admin/files/attachment/?quarantine=yes",
        "/admin/files/storedblob/",
    ):
        assert admin_client.get(url).status_code == 200  # type: ignore[attr-defined]


def test_django_admin_shows_storage_usage_per_user_and_channel(
    make_user: MakeUser, make_channel: Callable[..., Channel], client: object
) -> None:
    owner = make_user(role=Role.OWNER, is_staff=True, is_superuser=True)
    alice = make_user(username="alice-usage")
    channel = make_channel(kind=ChannelKind.PUBLIC, members=(alice,), name="usage-room")
    send_with(alice, channel, _upload(alice, b"a" * 3000, "a.txt", AttachmentStatus.CLEAN))
    _upload(alice, b"b" * 2000, "b.txt")
    client.force_login(owner)  # type: ignore[attr-defined]

    response = client.get(reverse("admin:files_attachment_usage"))  # type: ignore[attr-defined]
    changelist = client.get(reverse("admin:files_attachment_changelist"))  # type: ignore[attr-defined]

    assert response.status_code == 200
    by_user = {row["name"]: row for row in response.context["usage"].by_user}
    assert by_user["alice-usage"]["bytes"] == 5000
    by_channel = {row["name"]: row for row in response.context["usage"].by_channel}
    assert by_channel["usage-room"] == {
        "id": channel.pk,
        "name": "usage-room",
        "files": 1,
        "bytes": 3000,
    }
    assert b"alice-usage" in response.content
    assert reverse("admin:files_attachment_usage").encode() in changelist.content


def test_storage_usage_page_is_refused_to_staff_who_are_not_org_admins(
    make_user: MakeUser, client: object
) -> None:
    helpdesk = make_user(role=Role.MEMBER, is_staff=True, is_superuser=True)
    client.force_login(helpdesk)  # type: ignore[attr-defined]

    response = client.get(reverse("admin:files_attachment_usage"))  # type: ignore[attr-defined]

    assert response.status_code == 403


def test_admin_lists_deleted_files_kept_for_the_retention_period(
    admin_client: object, user: User
) -> None:
    gone = _upload(user, b"gone", "gone.txt")
    _upload(user, b"live", "live.txt")
    services.attachment_delete(actor=user, attachment_id=gone.pk)

    response = admin_client.get("/admin/files/attachment/?deleted=yes")  # type: ignore[attr-defined]

    assert response.status_code == 200
    assert b"gone.txt" in response.content
    assert b"live.txt" not in response.content


CHANGELIST = "/admin/files/attachment/"


def test_admin_is_told_when_the_virus_scanner_cannot_be_reached(
    admin_client: object, no_clamd: None
) -> None:
    response = admin_client.get(CHANGELIST)  # type: ignore[attr-defined]

    assert response.status_code == 200
    assert "The virus scanner (clamd) cannot be reached" in response.content.decode()


@pytest.mark.clamav
def test_admin_is_told_when_the_virus_scanner_does_not_report_exceeded_limits(
    admin_client: object, clamd_without_limit_alerts: object
) -> None:
    response = admin_client.get(CHANGELIST)  # type: ignore[attr-defined]

    assert "does not report exceeded limits: files cannot become clean" in (
        response.content.decode()
    )


@pytest.mark.clamav
def test_admin_sees_no_scanner_warning_when_clamd_reports_exceeded_limits(
    admin_client: object, clamd: object
) -> None:
    response = admin_client.get(CHANGELIST)  # type: ignore[attr-defined]

    assert response.status_code == 200
    assert "virus scanner" not in response.content.decode()


@pytest.mark.clamav
def test_admin_sees_the_scanner_warning_in_chinese(
    make_user: MakeUser, client: object, clamd_without_limit_alerts: object
) -> None:
    owner = make_user(role=Role.OWNER, is_staff=True, is_superuser=True, language="zh-hans")
    client.force_login(owner)  # type: ignore[attr-defined]

    response = client.get(CHANGELIST)  # type: ignore[attr-defined]

    assert "病毒扫描程序不报告超出的限制" in response.content.decode()


# --- sizes as people read them ------------------------------------------------------------------


def test_the_admin_shows_file_sizes_human_readable(user: User, admin: User) -> None:
    from django.test import Client

    from apps.files.models import UploadSession

    attachment = _upload(user, b"a" * (3 * 1024 * 1024), "big.bin")
    UploadSession.objects.create(
        uploader=user,
        original_name="huge.iso",
        total_size=5 * 1024**3,
        chunk_size=8 * 1024 * 1024,
        expires_at=timezone.now() + timedelta(days=1),
    )
    admin.is_staff = True  # as user_set_role leaves an administrator
    admin.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(admin)

    pages = {
        "attachments": reverse("admin:files_attachment_changelist"),
        "attachment": reverse("admin:files_attachment_change", args=[attachment.pk]),
        "blobs": reverse("admin:files_storedblob_changelist"),
        "blob": reverse("admin:files_storedblob_change", args=[attachment.blob_id]),
        "uploads": reverse("admin:files_uploadsession_changelist"),
    }
    html = {name: client.get(url).content.decode() for name, url in pages.items()}

    for name in ("attachments", "attachment", "blobs", "blob"):
        assert "3.0\xa0MB" in html[name], name
        assert "3145728" not in html[name].replace("3,145,728", "3145728"), name
    assert "5.0\xa0GB" in html["uploads"]
