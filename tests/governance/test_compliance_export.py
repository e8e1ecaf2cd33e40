"""Compliance export: the ZIP's contents against the database, its scope, escaping, expiry,
who may export (services) and the audit trail."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import AuditEvent, Role, User
from apps.accounts.roles import admin_permissions
from apps.chat import services as chat_services
from apps.chat.models import Channel, ChannelKind, Message
from apps.files.models import Attachment
from apps.files.storage import files_storage
from apps.governance import services as governance_services
from apps.governance.compliance_export import services
from apps.governance.compliance_export.audit import (
    COMPLIANCE_EXPORT_REQUESTED,
    COMPLIANCE_EXPORTER_GRANTED,
)
from apps.governance.compliance_export.permissions import EXPORT_PERMISSION
from apps.governance.models import ComplianceExport, ComplianceExportStatus
from tests.api_matrix import clean_image_attachment, png_bytes
from tests.chat.support import raises_domain_error, send
from tests.governance.export_support import (
    build_export,
    export_officer,
    open_zip,
    zip_csv_rows,
    zip_messages_json,
)

pytestmark = pytest.mark.django_db

DAY = datetime(2026, 3, 1, tzinfo=UTC)
START = DAY
END = DAY + timedelta(days=1)


def at(message: Message, moment: datetime) -> Message:
    Message.objects.filter(pk=message.pk).update(created_at=moment)
    message.refresh_from_db()
    return message


@dataclass
class World:
    alice: User
    bob: User
    general: Channel
    legal: Channel
    hello: Message
    chinese: Message
    edited: Message
    script_reply: Message
    deleted: Message
    with_file: Message
    held_deleted: Message
    before_start: Message
    at_end: Message
    attachment: Attachment


@pytest.fixture
def world(make_user: Callable[..., User], make_channel: Callable[..., Channel]) -> World:
    alice, bob = make_user(), make_user()
    general = make_channel(members=(alice, bob), name="general")
    legal = make_channel(ChannelKind.PRIVATE, members=(alice, bob), name="legal")
    hello = at(send(alice, general, "hello"), DAY + timedelta(hours=9))
    chinese = at(send(bob, general, "你好，世界：合同已签署"), DAY + timedelta(hours=10))
    edited = at(send(alice, general, "first draft"), DAY + timedelta(hours=11))
    chat_services.message_edit(user=alice, message_id=edited.pk, body="second draft")
    chat_services.message_edit(user=alice, message_id=edited.pk, body="final text")
    script_reply = at(
        send(
            bob,
            general,
            "<script>alert('x')</script><img src=x onerror=alert(1)>",
            thread_root_id=hello.pk,
        ),
        DAY + timedelta(hours=12),
    )
    deleted = at(send(alice, general, "regret"), DAY + timedelta(hours=13))
    chat_services.message_delete(user=alice, message_id=deleted.pk)
    attachment = clean_image_attachment(alice, name="合同 scan.png")
    with_file = at(
        chat_services.message_send(
            sender=alice, channel_id=general.pk, body="see file", attachment_ids=[attachment.pk]
        ).message,
        DAY + timedelta(hours=14),
    )
    governance_services.legal_hold_create(
        actor=make_user(Role.OWNER),
        name="Case",
        reason="Audit",
        user_ids=[],
        channel_ids=[legal.pk],
    )
    held_deleted = at(send(bob, legal, "held secret"), DAY + timedelta(hours=15))
    chat_services.message_edit(user=bob, message_id=held_deleted.pk, body="held secret v2")
    chat_services.message_delete(user=bob, message_id=held_deleted.pk)
    before_start = at(send(alice, general, "too early"), START - timedelta(microseconds=1))
    at_end = at(send(alice, legal, "too late"), END)
    for message in (edited, deleted, held_deleted):
        message.refresh_from_db()
    attachment.refresh_from_db()
    return World(
        alice,
        bob,
        general,
        legal,
        hello,
        chinese,
        edited,
        script_reply,
        deleted,
        with_file,
        held_deleted,
        before_start,
        at_end,
        attachment,
    )


@pytest.fixture
def officer() -> User:
    return export_officer()


def by_id(data: dict) -> dict[int, dict]:
    return {record["id"]: record for record in data["messages"]}


# --- contents against the database ---------------------------------------------------------------


def test_counts_per_channel_match_the_database(world: World, officer: User) -> None:
    export = build_export(officer, start=START, end=END)

    data = zip_messages_json(open_zip(export))

    in_scope = Message.objects.filter(created_at__gte=START, created_at__lt=END)
    expected = {
        channel.pk: in_scope.filter(channel=channel).count()
        for channel in (world.general, world.legal)
    }
    assert {c["id"]: c["message_count"] for c in data["channels"]} == expected
    assert expected == {world.general.pk: 6, world.legal.pk: 1}
    assert export.status == ComplianceExportStatus.READY
    assert export.message_count == len(data["messages"]) == 7
    assert data["export"]["message_count"] == 7
    assert data["export"]["scope"] == {
        "user_ids": [],
        "channel_ids": [],
        "start": START.isoformat(),
        "end": END.isoformat(),
    }


def test_every_field_of_an_edited_message_with_its_history(world: World, officer: User) -> None:
    data = zip_messages_json(open_zip(build_export(officer, start=START, end=END)))

    record = by_id(data)[world.edited.pk]

    message = world.edited
    revisions = list(message.revisions.order_by("replaced_at", "pk"))
    assert record == {
        "id": message.pk,
        "channel_id": world.general.pk,
        "channel": "general",
        "seq": message.seq,
        "sender_id": world.alice.pk,
        "sender_username": world.alice.username,
        "sender_name": world.alice.name,
        "created_at": message.created_at.isoformat(),
        "edited_at": message.edited_at.isoformat(),
        "deleted_at": None,
        "thread_root_id": None,
        "text": "final text",
        "edits": [
            {
                "text": "first draft",
                "written_at": revisions[0].written_at.isoformat(),
                "replaced_at": revisions[0].replaced_at.isoformat(),
            },
            {
                "text": "second draft",
                "written_at": revisions[1].written_at.isoformat(),
                "replaced_at": revisions[1].replaced_at.isoformat(),
            },
        ],
        "attachments": [],
    }


def test_a_deleted_message_keeps_its_deletion_time(world: World, officer: User) -> None:
    data = zip_messages_json(open_zip(build_export(officer, start=START, end=END)))

    record = by_id(data)[world.deleted.pk]

    assert record["deleted_at"] == world.deleted.deleted_at.isoformat()
    assert record["text"] == ""  # the sender's deletion took the text (no hold)


def test_a_message_hidden_under_legal_hold_keeps_its_text_and_history(
    world: World, officer: User
) -> None:
    data = zip_messages_json(open_zip(build_export(officer, start=START, end=END)))

    record = by_id(data)[world.held_deleted.pk]

    assert record["deleted_at"] == world.held_deleted.deleted_at.isoformat()
    assert record["text"] == "held secret v2"
    assert [edit["text"] for edit in record["edits"]] == ["held secret"]


def test_a_reply_names_its_thread_root(world: World, officer: User) -> None:
    data = zip_messages_json(open_zip(build_export(officer, start=START, end=END)))

    assert by_id(data)[world.script_reply.pk]["thread_root_id"] == world.hello.pk


def test_the_files_of_the_messages_are_in_the_zip(world: World, officer: User) -> None:
    export = build_export(officer, start=START, end=END)
    archive = open_zip(export)

    record = by_id(zip_messages_json(archive))[world.with_file.pk]

    [attachment] = record["attachments"]
    assert attachment["id"] == str(world.attachment.pk)
    assert attachment["name"] == "合同 scan.png"
    assert attachment["size"] == world.attachment.size
    assert archive.read(attachment["path"]) == png_bytes()
    assert export.file_count == 1


def test_chinese_is_readable_in_the_csv(world: World, officer: User) -> None:
    rows = zip_csv_rows(open_zip(build_export(officer, start=START, end=END)))

    row = next(r for r in rows if r["message_id"] == str(world.chinese.pk))

    assert row["text"] == "你好，世界：合同已签署"
    assert row["sender"] == world.bob.username
    assert row["channel"] == "general"
    assert row["created_at"] == world.chinese.created_at.isoformat()
    assert len(rows) == 7


def test_chinese_is_readable_in_the_channel_html(world: World, officer: User) -> None:
    archive = open_zip(build_export(officer, start=START, end=END))

    page = archive.read(f"channels/{world.general.pk}/archive.html").decode("utf-8")

    assert '<meta charset="utf-8">' in page
    assert "你好，世界：合同已签署" in page
    assert "final text" in page
    assert "first draft" in page  # the edit history


def test_a_script_in_a_message_is_inert_in_the_html(world: World, officer: User) -> None:
    archive = open_zip(build_export(officer, start=START, end=END))

    page = archive.read(f"channels/{world.general.pk}/archive.html").decode("utf-8")

    assert "<script" not in page.lower()
    assert "<img" not in page.lower()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "default-src 'none'" in page  # nothing runs even if something slipped through


def test_a_formula_in_a_message_is_quoted_in_the_csv(
    world: World, officer: User, make_channel: Callable[..., Channel]
) -> None:
    formula = at(send(world.alice, world.general, '=HYPERLINK("x")'), DAY)

    rows = zip_csv_rows(open_zip(build_export(officer, start=START, end=END)))

    row = next(r for r in rows if r["message_id"] == str(formula.pk))
    assert row["text"] == '\'=HYPERLINK("x")'


# --- scope -------------------------------------------------------------------------------------


def test_a_user_filter_exports_only_their_messages(world: World, officer: User) -> None:
    data = zip_messages_json(
        open_zip(build_export(officer, start=START, end=END, user_ids=[world.bob.pk]))
    )

    assert set(by_id(data)) == {world.chinese.pk, world.script_reply.pk, world.held_deleted.pk}


def test_a_channel_filter_exports_only_that_channel(world: World, officer: User) -> None:
    archive = open_zip(build_export(officer, start=START, end=END, channel_ids=[world.legal.pk]))

    assert set(by_id(zip_messages_json(archive))) == {world.held_deleted.pk}
    assert f"channels/{world.general.pk}/archive.html" not in archive.namelist()


def test_the_range_includes_its_start_and_excludes_its_end(world: World, officer: User) -> None:
    start = DAY + timedelta(hours=10)  # exactly the Chinese message
    end = DAY + timedelta(hours=12)  # exactly the script reply

    data = zip_messages_json(open_zip(build_export(officer, start=start, end=end)))

    assert set(by_id(data)) == {world.chinese.pk, world.edited.pk}


def test_messages_just_outside_the_range_are_left_out(world: World, officer: User) -> None:
    data = zip_messages_json(open_zip(build_export(officer, start=START, end=END)))

    assert world.before_start.pk not in by_id(data)
    assert world.at_end.pk not in by_id(data)


def test_an_empty_range_is_refused(officer: User) -> None:
    with raises_domain_error("invalid_compliance_export_range", 400):
        services.compliance_export_request(
            actor=officer, user_ids=[], channel_ids=[], start=END, end=START
        )


def test_unknown_users_or_channels_are_refused(officer: User) -> None:
    with raises_domain_error("invalid_compliance_export_scope", 400):
        services.compliance_export_request(
            actor=officer, user_ids=[10**9], channel_ids=[], start=START, end=END
        )


# --- who, the audit and expiry -------------------------------------------------------------------


def test_the_request_is_audited_with_its_scope(world: World, officer: User) -> None:
    export = build_export(officer, start=START, end=END, channel_ids=[world.general.pk])

    event = AuditEvent.objects.get(action=COMPLIANCE_EXPORT_REQUESTED)

    assert event.actor_id == officer.pk
    assert event.target_id == str(export.pk)
    assert event.metadata == {
        "user_ids": [],
        "channel_ids": [world.general.pk],
        "start": START.isoformat(),
        "end": END.isoformat(),
    }


def test_administrators_do_not_get_the_export_permission_with_their_role() -> None:
    assert EXPORT_PERMISSION not in admin_permissions()


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MEMBER])
def test_without_the_permission_no_export_is_requested(
    role: str, make_user: Callable[..., User]
) -> None:
    with raises_domain_error("not_compliance_exporter", 403):
        services.compliance_export_request(
            actor=make_user(role), user_ids=[], channel_ids=[], start=START, end=END
        )

    assert not ComplianceExport.objects.exists()


def test_the_owner_exports_without_the_permission(make_user: Callable[..., User]) -> None:
    export = build_export(make_user(Role.OWNER), start=START, end=END)

    assert export.status == ComplianceExportStatus.READY


def test_granting_the_permission_is_audited(make_user: Callable[..., User]) -> None:
    user = export_officer()

    assert AuditEvent.objects.filter(
        action=COMPLIANCE_EXPORTER_GRANTED, target_id=str(user.pk)
    ).exists()
    assert user.has_perm(EXPORT_PERMISSION)


def test_an_expired_export_loses_its_zip(world: World, officer: User) -> None:
    export = build_export(officer, start=START, end=END)
    name = export.storage_name

    expired = services.compliance_exports_expire(now=export.expires_at)

    export.refresh_from_db()
    assert expired == 1
    assert export.status == ComplianceExportStatus.EXPIRED
    assert export.storage_name == ""
    assert not files_storage().exists(name)


def test_the_zip_expires_after_the_configured_hours(
    world: World, officer: User, settings: pytest.FixtureRequest
) -> None:
    settings.ENCLAVE_COMPLIANCE_EXPORT_TTL_HOURS = 2  # type: ignore[attr-defined]

    export = build_export(officer, start=START, end=END)

    assert export.finished_at is not None
    assert export.expires_at == export.finished_at + timedelta(hours=2)


def test_a_failed_build_is_recorded(
    world: World, officer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("apps.governance.compliance_export.archive.ArchiveWriter.close", broken)

    export = build_export(officer, start=START, end=END)

    assert export.status == ComplianceExportStatus.FAILED
    assert "disk full" in export.error
    assert export.storage_name == ""


def test_the_command_revokes_the_permission() -> None:
    from django.core.management import call_command

    user = export_officer()
    call_command("compliance_exporter", user.username, "--revoke", stdout=io.StringIO())

    assert not User.objects.get(pk=user.pk).has_perm(EXPORT_PERMISSION)


def test_celery_beat_expires_the_zips_hourly(settings: Any) -> None:
    from apps.governance.tasks import expire_compliance_exports

    entry = settings.CELERY_BEAT_SCHEDULE["governance-expire-compliance-exports"]

    assert entry["task"] == expire_compliance_exports.name
    assert entry["schedule"] == 3600
    assert expire_compliance_exports.delay().get() == 0


def test_the_build_costs_the_same_queries_whatever_the_messages(
    make_user: Callable[..., User], make_channel: Callable[..., Channel], officer: User
) -> None:
    sender = make_user()
    few, many = make_channel(members=(sender,)), make_channel(members=(sender,))
    for channel, count in ((few, 2), (many, 12)):
        for i in range(count):
            at(send(sender, channel, f"m{i}"), DAY + timedelta(minutes=i))

    def queries_of(channel: Channel) -> int:
        export = services.compliance_export_request(
            actor=officer, user_ids=[], channel_ids=[channel.pk], start=START, end=END
        )
        with CaptureQueriesContext(connection) as captured:
            services.compliance_export_build(export_id=export.pk)
        return len(captured)

    assert queries_of(few) == queries_of(many)
