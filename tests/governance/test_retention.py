"""Retention: which policy applies, the batched run, files, threads and the audit record."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.accounts.models import AuditEvent, Role, User
from apps.chat import selectors as chat_selectors
from apps.chat import services as chat_services
from apps.chat.models import Channel, Message
from apps.files.models import Attachment, StoredBlob
from apps.governance import selectors, services
from apps.governance.audit import RETENTION_APPLIED, RETENTION_POLICY_CHANGED
from apps.governance.models import RetentionPolicy
from apps.governance.tasks import apply_retention
from tests.api_matrix import clean_image_attachment
from tests.chat.support import raises_domain_error, send
from tests.governance.support import old_messages

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(make_user: Callable[..., User]) -> User:
    return make_user(Role.ADMIN)


@pytest.fixture
def member(make_user: Callable[..., User]) -> User:
    return make_user()


@pytest.fixture
def channel(make_channel: Callable[..., Channel], member: User) -> Channel:
    return make_channel(members=(member,))


# --- policy resolution ---------------------------------------------------------------------------


def test_the_default_keeps_forever(channel: Channel) -> None:
    assert selectors.retention_for_channel(channel_id=channel.pk) == selectors.EffectiveRetention(
        days=None, source="organisation"
    )


def test_a_channel_follows_the_organisation_policy(admin: User, channel: Channel) -> None:
    services.retention_set_org(actor=admin, days=30)

    effective = selectors.retention_for_channel(channel_id=channel.pk)

    assert (effective.days, effective.source) == (30, "organisation")


def test_a_channel_policy_overrides_the_organisation_policy(
    admin: User, channel: Channel, make_channel: Callable[..., Channel]
) -> None:
    other = make_channel()
    services.retention_set_org(actor=admin, days=30)
    services.retention_set_channel(actor=admin, channel_id=channel.pk, inherit=False, days=7)

    assert selectors.retention_by_channel(channel_ids=[channel.pk, other.pk]) == {
        channel.pk: 7,
        other.pk: 30,
    }


def test_a_channel_may_keep_forever_under_an_organisation_limit(
    admin: User, channel: Channel
) -> None:
    services.retention_set_org(actor=admin, days=30)
    services.retention_set_channel(actor=admin, channel_id=channel.pk, inherit=False, days=None)

    assert selectors.retention_for_channel(channel_id=channel.pk).days is None


def test_inherit_removes_the_channel_policy(admin: User, channel: Channel) -> None:
    services.retention_set_channel(actor=admin, channel_id=channel.pk, inherit=False, days=7)
    services.retention_set_channel(actor=admin, channel_id=channel.pk, inherit=True)

    assert not RetentionPolicy.objects.filter(channel=channel).exists()


@pytest.mark.parametrize("days", [0, -1, 36501, True, "7"])
def test_days_must_be_at_least_one(admin: User, days: Any) -> None:
    with raises_domain_error("invalid_retention_days", 400):
        services.retention_set_org(actor=admin, days=days)


def test_a_member_cannot_set_retention(member: User, channel: Channel) -> None:
    with raises_domain_error("not_org_admin", 403):
        services.retention_set_org(actor=member, days=1)
    with raises_domain_error("not_org_admin", 403):
        services.retention_set_channel(actor=member, channel_id=channel.pk, inherit=False, days=1)


def test_policy_changes_are_audited(admin: User, channel: Channel) -> None:
    services.retention_set_org(actor=admin, days=30)
    services.retention_set_channel(actor=admin, channel_id=channel.pk, inherit=False, days=7)

    records = list(AuditEvent.objects.filter(action=RETENTION_POLICY_CHANGED).order_by("id"))
    assert [(r.actor_id, r.target_type, r.metadata) for r in records] == [
        (admin.pk, "organisation", {"scope": "organisation", "before": None, "after": 30}),
        (admin.pk, "channel", {"scope": "channel", "before": "inherit", "after": 7}),
    ]
    assert records[1].target_id == str(channel.pk)


def test_the_summary_members_read() -> None:
    assert selectors.retention_summary(30) == "Messages older than 30 days are deleted."
    assert selectors.retention_summary(None) == "Messages are kept forever."


# --- the run -------------------------------------------------------------------------------------


def test_retention_deletes_only_messages_older_than_the_policy(
    admin: User, member: User, channel: Channel
) -> None:
    old = old_messages(member, channel, 3, days_ago=10)
    recent = send(member, channel, "recent")
    services.retention_set_org(actor=admin, days=7)

    run = services.retention_apply()

    assert run.deleted_by_channel == {channel.pk: 3}
    assert not Message.objects.filter(pk__in=[m.pk for m in old]).exists()
    assert Message.objects.filter(pk=recent.pk).exists()


def test_keep_forever_deletes_nothing(member: User, channel: Channel) -> None:
    old_messages(member, channel, 2, days_ago=4000)

    run = services.retention_apply()

    assert run.messages_deleted == 0
    assert Message.objects.filter(channel=channel).count() == 2


def test_a_fake_clock_moves_messages_past_the_policy(
    admin: User, member: User, channel: Channel
) -> None:
    send(member, channel, "today")
    services.retention_set_org(actor=admin, days=1)

    assert services.retention_apply().messages_deleted == 0
    later = timezone.now() + timedelta(days=2)
    assert services.retention_apply(now=later).messages_deleted == 1


def test_a_run_deletes_at_most_a_batch_per_transaction(
    admin: User, member: User, channel: Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_messages(member, channel, 7, days_ago=10)
    services.retention_set_org(actor=admin, days=7)
    sizes: list[int] = []
    purge = chat_services.messages_purge

    def recording_purge(*, channel_id: int, message_ids: list[int]) -> Any:
        sizes.append(len(message_ids))
        return purge(channel_id=channel_id, message_ids=message_ids)

    monkeypatch.setattr(chat_services, "messages_purge", recording_purge)

    run = services.retention_apply(batch_size=3)

    assert sizes == [3, 3, 1]
    assert run.messages_deleted == 7
    assert run.finished


def test_several_bounded_runs_finish_the_job(admin: User, member: User, channel: Channel) -> None:
    old_messages(member, channel, 5, days_ago=10)
    services.retention_set_org(actor=admin, days=7)

    runs = [services.retention_apply(batch_size=2, max_batches=1) for _ in range(4)]

    assert [run.messages_deleted for run in runs] == [2, 2, 1, 0]
    assert [run.finished for run in runs] == [False, False, True, True]
    assert not Message.objects.filter(channel=channel).exists()


def test_the_beat_task_applies_retention(admin: User, member: User, channel: Channel) -> None:
    old_messages(member, channel, 2, days_ago=10)
    services.retention_set_org(actor=admin, days=7)

    assert apply_retention.delay().get() == 2


def test_the_run_is_audited_with_counts_per_channel(
    admin: User, member: User, channel: Channel, make_channel: Callable[..., Channel]
) -> None:
    other = make_channel(members=(member,))
    old_messages(member, channel, 2, days_ago=10)
    old_messages(member, other, 1, days_ago=10)
    services.retention_set_org(actor=admin, days=7)

    services.retention_apply()

    record = AuditEvent.objects.get(action=RETENTION_APPLIED)
    assert record.actor_id is None
    assert record.metadata == {
        "messages": 3,
        "files": 0,
        "by_channel": {str(channel.pk): 2, str(other.pk): 1},
        "finished": True,
    }


def test_a_run_that_deletes_nothing_writes_no_audit_record(channel: Channel) -> None:
    services.retention_apply()

    assert not AuditEvent.objects.filter(action=RETENTION_APPLIED).exists()


def test_retention_deletes_the_files_and_their_bytes(
    admin: User, member: User, channel: Channel
) -> None:
    attachment = clean_image_attachment(member, name="old.png")
    message = chat_services.message_send(
        sender=member, channel_id=channel.pk, body="file", attachment_ids=[attachment.pk]
    ).message
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(days=9))
    services.retention_set_channel(actor=admin, channel_id=channel.pk, inherit=False, days=7)

    run = services.retention_apply()

    assert run.files_deleted == 1
    assert not Attachment.objects.filter(pk=attachment.pk).exists()
    assert not StoredBlob.objects.filter(pk=attachment.blob_id).exists()


def test_a_root_with_recent_replies_stays_as_a_tombstone(
    admin: User, member: User, channel: Channel
) -> None:
    (root,) = old_messages(member, channel, 1, days_ago=10)
    reply = send(member, channel, "recent reply", thread_root_id=root.pk)
    services.retention_set_org(actor=admin, days=7)

    services.retention_apply()

    root.refresh_from_db()
    assert root.deleted_at is not None
    assert root.body == ""
    assert Message.objects.filter(pk=reply.pk).exists()


def test_a_kept_tombstone_costs_later_runs_nothing(
    admin: User, member: User, channel: Channel
) -> None:
    (root,) = old_messages(member, channel, 1, days_ago=10)
    send(member, channel, "recent reply", thread_root_id=root.pk)
    services.retention_set_org(actor=admin, days=7)
    services.retention_apply()
    last_seq = Channel.objects.get(pk=channel.pk).last_seq

    again = services.retention_apply()

    assert again.batches == 0
    assert Channel.objects.get(pk=channel.pk).last_seq == last_seq


def test_a_kept_tombstone_goes_the_run_after_its_replies(
    admin: User, member: User, channel: Channel
) -> None:
    (root,) = old_messages(member, channel, 1, days_ago=10)
    reply = send(member, channel, "reply", thread_root_id=root.pk)
    services.retention_set_org(actor=admin, days=7)
    services.retention_apply()

    Message.objects.filter(pk=reply.pk).update(created_at=timezone.now() - timedelta(days=8))
    services.retention_apply()  # the reply; its root is free from the next run on
    services.retention_apply()

    assert not Message.objects.filter(channel=channel).exists()


def test_reloaded_history_no_longer_shows_purged_messages(
    admin: User, member: User, channel: Channel
) -> None:
    old_messages(member, channel, 2, days_ago=10)
    kept = send(member, channel, "recent")
    before = chat_selectors.channel_history_json(user=member, channel_id=channel.pk)
    assert b"old 0" in before
    services.retention_set_org(actor=admin, days=7)

    services.retention_apply()

    after = chat_selectors.channel_history_json(user=member, channel_id=channel.pk)
    assert b"old 0" not in after
    assert kept.body.encode() in after
