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
    gzip_of,
    png_bytes,
    send_with,
    tar_gz_of,
    upload_via_api,
    zip_nested,
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
    body = {key: value for key, value in event.items() if key not in ("v", "topics")}
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
    assert set(event["topics"]) == {f"user.{u.pk}" for u in (alice, admin, owner)}
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


# --- clamd's limits (MaxFileSize, MaxScanSize, MaxRecursion, MaxFiles) -----------------------

ZEROS_PAST_THE_LIMIT = b"\0" * (2 * STREAM_MAX_BYTES)


@pytest.mark.clamav
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clamd")
@pytest.mark.parametrize(
    ("name", "data", "limit"),
    [
        ("zeros.gz", gzip_of(ZEROS_PAST_THE_LIMIT + EICAR), "MaxFileSize"),
        (
            "zeros.tar.gz",
            tar_gz_of({"zeros.bin": ZEROS_PAST_THE_LIMIT, "eicar.txt": EICAR}),
            "MaxFileSize",
        ),
        ("deep.zip", zip_nested(20, "eicar.txt", EICAR), "MaxRecursion"),
    ],
    ids=["gz-after-zeros", "tar-gz-after-zeros", "zip-20-deep"],
)
def test_archive_beyond_clamds_limits_fails_and_no_byte_is_served(
    room: tuple[User, User, Channel],
    captured_events: Events,
    name: str,
    data: bytes,
    limit: str,
) -> None:
    alice, bob, channel = room
    attachment = _upload(alice, data, name)
    send_with(alice, channel, attachment)

    attachment.refresh_from_db()

    assert attachment.status == AttachmentStatus.FAILED
    assert f"Heuristics.Limits.Exceeded.{limit}" in attachment.scan_signature
    for user in (alice, bob):
        for url in ("download", "preview", "thumbnail"):
            response = client_of(user).get(file_url(url, attachment))
            assert response.status_code in (403, 404), (url, response.status_code)
            assert data not in body_of(response)
    # A limit is not a virus: no quarantine notice, no audit entry.
    assert not [e for e in captured_events if e["type"] == "attachment.quarantined"]
    assert not AuditEvent.objects.filter(action="file.quarantined").exists()
    (update,) = [
        e
        for e in captured_events
        if e["type"] == "attachment.updated" and e["attachment"]["status"] == "failed"
    ]
    assert update["attachment"]["scan_failure"] == "limit_exceeded"
    validate_file_event(update)


@pytest.mark.clamav
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clamd")
@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("large.txt", b"a" * (STREAM_MAX_BYTES - 1024)),
        ("large.zip", zip_of({"notes.txt": b"minutes " * (STREAM_MAX_BYTES // 10)})),
        ("large.gz", gzip_of(b"log line\n" * (STREAM_MAX_BYTES // 12))),
    ],
    ids=["text", "zip", "gz"],
)
def test_large_clean_files_within_the_limits_stay_clean(
    room: tuple[User, User, Channel], name: str, data: bytes
) -> None:
    alice, bob, channel = room
    attachment = _upload(alice, data, name)
    send_with(alice, channel, attachment)

    attachment.refresh_from_db()
    response = client_of(bob).get(file_url("download", attachment))

    assert attachment.status == AttachmentStatus.CLEAN
    assert body_of(response) == data


@pytest.mark.clamav
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clamd_without_limit_alerts")
def test_clamd_that_does_not_report_exceeded_limits_passes_nothing_as_clean(
    room: tuple[User, User, Channel], captured_events: Events
) -> None:
    alice, bob, channel = room
    plain = _upload(alice, b"minutes of the meeting", "minutes.txt")
    bomb = _upload(alice, gzip_of(ZEROS_PAST_THE_LIMIT + EICAR), "zeros.gz")
    virus = _upload(alice, EICAR, "eicar.txt")
    send_with(alice, channel, plain, bomb)

    for attachment in (plain, bomb, virus):
        attachment.refresh_from_db()
    assert plain.status == AttachmentStatus.FAILED
    assert bomb.status == AttachmentStatus.FAILED
    assert "does not report exceeded limits" in plain.scan_signature
    assert virus.status == AttachmentStatus.INFECTED  # what it does find still counts
    for attachment in (plain, bomb):
        response = client_of(bob).get(file_url("download", attachment))
        assert (response.status_code, response.json()["code"]) == (403, "file_not_available")
    failures = {
        e["attachment"]["id"]: e["attachment"]["scan_failure"]
        for e in captured_events
        if e["type"] == "attachment.updated" and e["attachment"]["status"] == "failed"
    }
    assert failures == {str(plain.pk): "scanner_unverified", str(bomb.pk): "scanner_unverified"}


@pytest.mark.clamav
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clamd")
def test_rescan_fails_a_clean_file_that_exceeds_the_limits(user: User) -> None:
    bomb = _upload(user, gzip_of(ZEROS_PAST_THE_LIMIT + EICAR), "zeros.gz")
    # As if passed by a clamd that did not report exceeded limits.
    Attachment.objects.filter(pk=bomb.pk).update(status=AttachmentStatus.CLEAN, scan_signature="")

    services.attachment_scan(attachment_id=bomb.pk)

    bomb.refresh_from_db()
    assert bomb.status == AttachmentStatus.FAILED
    assert "Heuristics.Limits.Exceeded.MaxFileSize" in bomb.scan_signature


@pytest.mark.clamav
def test_limits_probe_tells_the_two_configurations_apart(
    clamd_server: ClamdServer, clamd_server_without_limit_alerts: ClamdServer
) -> None:
    if clamd_server.process is None:
        clamd_server.start()

    reporting = clamd_client.reports_exceeded_limits(address=clamd_server.address, timeout=10)
    silent = clamd_client.reports_exceeded_limits(
        address=clamd_server_without_limit_alerts.address, timeout=10
    )

    assert (reporting, silent) == (True, False)
    assert len(clamd_client.limits_probe()) < 4096
    assert clamd_client.limits_probe() != clamd_client.limits_probe()  # never in clamd's cache


def test_limit_result_is_a_failed_scan_not_a_virus() -> None:
    with pytest.raises(clamd_client.ScanLimitExceeded) as raised:
        clamd_client.verdict_of("stream: Heuristics.Limits.Exceeded.MaxFiles FOUND")
    with pytest.raises(clamd_client.ScanLimitExceeded):
        clamd_client.verdict_of("INSTREAM size limit exceeded. ERROR")

    assert isinstance(raised.value, clamd_client.ScanFailed)
    assert raised.value.limit == "Heuristics.Limits.Exceeded.MaxFiles"
    assert clamd_client.verdict_of("stream: Eicar-Test-Signature FOUND") == clamd_client.Verdict(
        infected=True, signature="Eicar-Test-Signature"
    )
    assert not clamd_client.verdict_of("stream: OK").infected


@pytest.mark.usefixtures("no_clamd")
def test_a_celery_worker_says_at_start_that_its_scans_cannot_pass_files(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from celery.signals import worker_ready

    worker_ready.send(sender=None)

    assert "cannot pass files as clean: clamd unreachable" in caplog.text


@pytest.mark.clamav
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clamd")
def test_rescan_files_command_fails_an_archive_an_older_clamd_passed(user: User) -> None:
    from io import StringIO

    from django.core.management import call_command

    bomb = _upload(user, gzip_of(ZEROS_PAST_THE_LIMIT + EICAR), "zeros.gz")
    fine = _upload(user, b"quarterly numbers", "numbers.txt")
    # As if passed by a clamd that did not report exceeded limits.
    Attachment.objects.filter(pk=bomb.pk).update(status=AttachmentStatus.CLEAN, scan_signature="")
    out = StringIO()

    call_command("rescan_files", stdout=out)

    bomb.refresh_from_db()
    fine.refresh_from_db()
    assert "2 files queued" in out.getvalue()
    assert bomb.status == AttachmentStatus.FAILED
    assert fine.status == AttachmentStatus.CLEAN
