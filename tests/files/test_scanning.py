"""Scanning against a real clamd (tests/files/clamd_server.py): verdicts, fail-closed, rescans.

Uploads enqueue the scan on commit and Celery runs eagerly, so these tests are transactional.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import TypeAdapter

from apps.accounts.models import AuditEvent, Role, User
from apps.chat.models import Channel, ChannelKind
from apps.files import clamd as clamd_client
from apps.files import events as file_events
from apps.files import services, tasks
from apps.files.models import Attachment, AttachmentStatus
from tests.chat.test_events_schema import strict_schema
from tests.files.clamd_server import STREAM_MAX_BYTES, ClamdServer
from tests.files.support import (
    EICAR,
    body_of,
    client_of,
    file_url,
    png_bytes,
    send_with,
    upload_via_api,
    zip_of,
)

MakeUser = Callable[..., User]
Events = list[dict[str, Any]]


def _upload(user: User, data: bytes, name: str) -> Attachment:
    response = upload_via_api(user, data, name)
    assert response.status_code == 201, response.content
    return Attachment.objects.get(pk=response.json()["id"])


def validate_file_event(event: dict[str, Any]) -> None:
    schema = file_events.EVENT_SCHEMAS[event["type"]]
    body = {key: value for key, value in event.items() if key not in ("v", "groups")}
    TypeAdapter(strict_schema(schema)).validate_python(body, strict=True)


@pytest.fixture
def room(make_user: MakeUser, make_channel: Callable[..., Channel]) -> tuple[User, User, Channel]:
    alice, bob = make_user(), make_user()
    return alice, bob, make_channel(kind=ChannelKind.PRIVATE, members=(alice, bob))


@pytest.mark.clamav
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clamd")
def test_clean_file_becomes_downloadable_by_channel_members(
    room: tuple[User, User, Channel],
) -> None:
    alice, bob, channel = room
    attachment = _upload(alice, b"minutes of the meeting", "minutes.txt")
    send_with(alice, channel, attachment, body="minutes attached")

    attachment.refresh_from_db()
    response = client_of(bob).get(file_url("download", attachment))

    assert attachment.status == AttachmentStatus.CLEAN
    assert attachment.scan_db_version
    assert response.status_code == 200
    assert body_of(response) == b"minutes of the meeting"


@pytest.mark.clamav
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clamd")
@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("eicar.txt", EICAR),
        ("eicar.zip", zip_of({"docs/eicar.txt": EICAR})),
        ("nested.zip", zip_of({"inner.zip": zip_of({"eicar.com.txt": EICAR})})),
    ],
    ids=["plain", "zip", "zip-in-zip"],
)
def test_eicar_is_quarantined_and_never_served(
    room: tuple[User, User, Channel], name: str, data: bytes
) -> None:
    alice, bob, channel = room
    attachment = _upload(alice, data, name)
    send_with(alice, channel, attachment)

    attachment.refresh_from_db()

    assert attachment.status == AttachmentStatus.INFECTED
    assert "Eicar" in attachment.scan_signature
    for user in (alice, bob):
        response = client_of(user).get(file_url("download", attachment))
        assert (response.status_code, response.json()["code"]) == (403, "file_not_available")
    assert Attachment.objects.filter(pk=attachment.pk).exists()  # kept for the admin


@pytest.mark.clamav
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clamd")
def test_quarantine_tells_uploader_and_admins_and_is_audited(
    make_user: MakeUser, captured_events: Events
) -> None:
    alice = make_user()
    admin = make_user(role=Role.ADMIN)
    owner = make_user(role=Role.OWNER)

    attachment = _upload(alice, EICAR, "eicar.txt")

    assert {e["type"] for e in captured_events} >= set(file_events.EVENT_SCHEMAS)
    (event,) = [e for e in captured_events if e["type"] == "attachment.quarantined"]
    assert set(event["groups"]) == {f"user.{u.pk}" for u in (alice, admin, owner)}
    assert event["attachment_id"] == str(attachment.pk)
    for published in captured_events:
        if published["type"].startswith("attachment."):
            validate_file_event(published)
    audit = AuditEvent.objects.get(action="file.quarantined")
    assert audit.target_id == str(attachment.pk)
    assert "Eicar" in audit.metadata["signature"]


@pytest.mark.clamav
@pytest.mark.django_db(transaction=True)
def test_clamd_stopped_mid_test_leaves_files_failed_and_undownloadable(
    clamd: ClamdServer, room: tuple[User, User, Channel]
) -> None:
    alice, bob, channel = room
    before = _upload(alice, b"scanned while clamd runs", "before.txt")
    clamd.stop()

    after = _upload(alice, b"uploaded while clamd is down", "after.txt")
    send_with(alice, channel, before, after)

    before.refresh_from_db()
    after.refresh_from_db()
    assert before.status == AttachmentStatus.CLEAN
    assert after.status == AttachmentStatus.FAILED
    assert "unreachable" in after.scan_signature
    for user in (alice, bob):
        response = client_of(user).get(file_url("download", after))
        assert (response.status_code, response.json()["code"]) == (403, "file_not_available")


@pytest.mark.clamav
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clamd")
def test_file_above_clamds_stream_limit_fails_instead_of_passing(user: User) -> None:
    attachment = _upload(user, b"a" * (STREAM_MAX_BYTES + 1024), "big.txt")

    attachment.refresh_from_db()

    assert attachment.status == AttachmentStatus.FAILED
    assert "limit" in attachment.scan_signature


@pytest.mark.clamav
@pytest.mark.django_db(transaction=True)
def test_admin_rescan_of_a_failed_file_passes_once_clamd_is_back(
    clamd: ClamdServer, make_user: MakeUser
) -> None:
    alice, admin = make_user(), make_user(role=Role.ADMIN)
    clamd.stop()
    attachment = _upload(alice, b"report", "report.txt")
    clamd.start()

    response = client_of(admin).post(file_url("rescan", attachment))

    attachment.refresh_from_db()
    assert response.status_code == 200
    assert attachment.status == AttachmentStatus.CLEAN


@pytest.mark.clamav
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clamd")
def test_rescan_after_signature_update_catches_a_file_passed_by_older_signatures(
    user: User,
) -> None:
    missed = _upload(user, EICAR, "eicar.txt")
    fine = _upload(user, png_bytes(), "fine.png")
    # As if both had been passed by an older database that did not know the signature.
    Attachment.objects.filter(pk__in=[missed.pk, fine.pk]).update(
        status=AttachmentStatus.CLEAN, scan_db_version="1/old"
    )

    rescanned = tasks.rescan_after_signature_update()

    missed.refresh_from_db()
    fine.refresh_from_db()
    assert rescanned == 2
    assert missed.status == AttachmentStatus.INFECTED
    assert fine.status == AttachmentStatus.CLEAN
    assert fine.scan_db_version != "1/old"
    assert tasks.rescan_after_signature_update() == 0  # up to date now


@pytest.mark.django_db(transaction=True)
def test_without_a_reachable_clamd_uploads_fail_closed(user: User, no_clamd: None) -> None:
    attachment = _upload(user, b"hello", "hello.txt")

    attachment.refresh_from_db()

    assert attachment.status == AttachmentStatus.FAILED
    assert client_of(user).get(file_url("download", attachment)).status_code == 403


def test_scanner_address_must_be_unix_or_tcp() -> None:
    with pytest.raises(clamd_client.ScanFailed):
        clamd_client.scan_stream([b"x"], address="http://clamd:3310", timeout=1)


@pytest.mark.django_db(transaction=True)
def test_rescan_with_clamd_down_keeps_a_clean_file_clean(user: User, no_clamd: None) -> None:
    attachment = _upload(user, b"hello", "hello.txt")
    Attachment.objects.filter(pk=attachment.pk).update(status=AttachmentStatus.CLEAN)

    services.attachment_scan(attachment_id=attachment.pk)

    attachment.refresh_from_db()
    assert attachment.status == AttachmentStatus.CLEAN


@pytest.mark.django_db(transaction=True)
def test_clamd_that_never_answers_times_out_to_failed(
    user: User, settings: Any, tmp_path: Any
) -> None:
    import socket
    import threading

    path = tmp_path / "silent.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True)
    thread.start()
    settings.ENCLAVE_CLAMD_ADDRESS = f"unix://{path}"
    settings.ENCLAVE_CLAMD_TIMEOUT_SECONDS = 0.3

    try:
        attachment = _upload(user, b"hello", "hello.txt")
    finally:
        for connection in accepted:
            connection.close()
        listener.close()

    attachment.refresh_from_db()
    assert attachment.status == AttachmentStatus.FAILED
    assert "timed out" in attachment.scan_signature


@pytest.mark.clamav
def test_held_clamd_answers_keep_the_scan_in_flight_until_released(
    clamd: ClamdServer,
) -> None:
    """The e2e test of the "being checked" placeholder relies on this stand-in."""
    import threading

    verdicts: list[clamd_client.Verdict] = []

    def scan() -> None:
        verdicts.append(clamd_client.scan_stream([EICAR], address=clamd.address, timeout=10))

    with clamd.answers_held() as held:
        thread = threading.Thread(target=scan)
        thread.start()
        assert held.holding.wait(10)
        thread.join(0.3)
        assert thread.is_alive()
        assert not verdicts
        held.release()
        thread.join(10)

    assert verdicts[0].infected
    assert clamd.ping()  # the real socket is back in place
