"""Legal holds: they beat retention and deletion, only compliance officers manage them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.core.management import call_command

from apps.accounts.audit import audit_action_label
from apps.accounts.models import AuditEvent, Role, User
from apps.accounts.roles import admin_permissions
from apps.chat import events
from apps.chat import services as chat_services
from apps.chat.models import Channel, ChannelRole, Message
from apps.files import services as file_services
from apps.files.models import Attachment
from apps.governance import services
from apps.governance.audit import LEGAL_HOLD_CREATED, LEGAL_HOLD_RELEASED
from apps.governance.models import LegalHold
from apps.governance.permissions import LEGAL_HOLD_PERMISSION, may_manage_legal_holds
from tests.api_matrix import clean_image_attachment
from tests.chat.support import raises_domain_error, send
from tests.factories import MembershipFactory
from tests.governance.support import old_messages

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(make_user: Callable[..., User]) -> User:
    return make_user(Role.OWNER)


@pytest.fixture
def admin(make_user: Callable[..., User]) -> User:
    return make_user(Role.ADMIN)


@pytest.fixture
def officer(make_user: Callable[..., User]) -> User:
    user = make_user(Role.ADMIN)
    call_command("compliance_officer", user.username)
    return User.objects.get(pk=user.pk)  # a fresh object: no cached permissions


@pytest.fixture
def member(make_user: Callable[..., User]) -> User:
    return make_user()


@pytest.fixture
def channel(make_channel: Callable[..., Channel], member: User) -> Channel:
    return make_channel(members=(member,))


def hold(
    officer: User, *, users: tuple[User, ...] = (), channels: tuple[Channel, ...] = ()
) -> LegalHold:
    return services.legal_hold_create(
        actor=officer,
        name="Case 42",
        reason="Litigation",
        user_ids=[u.pk for u in users],
        channel_ids=[c.pk for c in channels],
    )


def test_a_held_channel_keeps_its_old_messages(
    admin: User, officer: User, member: User, channel: Channel, make_channel: Callable[..., Channel]
) -> None:
    other = make_channel(members=(member,))
    kept = old_messages(member, channel, 2, days_ago=10)
    old_messages(member, other, 2, days_ago=10)
    services.retention_set_org(actor=admin, days=7)
    hold(officer, channels=(channel,))

    run = services.retention_apply()

    assert run.deleted_by_channel == {other.pk: 2}
    assert Message.objects.filter(pk__in=[m.pk for m in kept]).count() == 2


def test_a_held_user_keeps_their_messages_everywhere(
    admin: User,
    officer: User,
    member: User,
    channel: Channel,
    make_user: Callable[..., User],
) -> None:
    colleague = make_user()
    MembershipFactory(channel=channel, user=colleague)
    kept = old_messages(member, channel, 2, days_ago=10)
    old_messages(colleague, channel, 3, days_ago=10)
    services.retention_set_org(actor=admin, days=7)
    hold(officer, users=(member,))

    run = services.retention_apply()

    assert run.deleted_by_channel == {channel.pk: 3}
    assert set(Message.objects.filter(channel=channel).values_list("pk", flat=True)) == {
        m.pk for m in kept
    }


def test_a_held_reply_keeps_its_old_root_as_a_tombstone(
    admin: User, officer: User, member: User, channel: Channel, make_user: Callable[..., User]
) -> None:
    colleague = make_user()
    MembershipFactory(channel=channel, user=colleague)
    (root,) = old_messages(colleague, channel, 1, days_ago=10)
    reply = send(member, channel, "held reply", thread_root_id=root.pk)
    Message.objects.filter(pk=reply.pk).update(created_at=root.created_at)
    services.retention_set_org(actor=admin, days=7)
    hold(officer, users=(member,))

    services.retention_apply()

    assert Message.objects.get(pk=reply.pk).body == "held reply"
    assert Message.objects.get(pk=root.pk).deleted_at is not None


def test_after_release_retention_deletes_them(
    admin: User, officer: User, member: User, channel: Channel
) -> None:
    old_messages(member, channel, 2, days_ago=10)
    services.retention_set_org(actor=admin, days=7)
    placed = hold(officer, channels=(channel,))
    assert services.retention_apply().messages_deleted == 0

    services.legal_hold_release(actor=officer, hold_id=placed.pk)

    assert services.retention_apply().messages_deleted == 2


def test_own_delete_of_a_held_message_only_hides_it(
    officer: User, member: User, channel: Channel
) -> None:
    attachment = clean_image_attachment(member, name="evidence.png")
    message = chat_services.message_send(
        sender=member, channel_id=channel.pk, body="evidence", attachment_ids=[attachment.pk]
    ).message
    hold(officer, users=(member,))

    chat_services.message_delete(user=member, message_id=message.pk)

    message.refresh_from_db()
    assert message.deleted_at is not None
    assert message.body == "evidence"
    assert Attachment.objects.get(pk=attachment.pk).deleted_at is None
    payload = events.message_payload(message)
    assert (payload["deleted"], payload["body"], payload["attachments"]) == (True, "", [])


def test_admin_delete_of_a_held_message_only_hides_it(
    officer: User,
    member: User,
    make_channel: Callable[..., Channel],
    make_user: Callable[..., User],
) -> None:
    channel_admin = make_user()
    channel = make_channel(members=(member,), admins=(channel_admin,))
    assert channel.memberships.get(user=channel_admin).role == ChannelRole.ADMIN
    message = send(member, channel, "evidence")
    hold(officer, channels=(channel,))

    chat_services.message_delete(user=channel_admin, message_id=message.pk)

    message.refresh_from_db()
    assert (message.deleted_at is not None, message.body) == (True, "evidence")


def test_delete_without_a_hold_still_clears_the_text(member: User, channel: Channel) -> None:
    message = send(member, channel, "gone")

    chat_services.message_delete(user=member, message_id=message.pk)

    message.refresh_from_db()
    assert message.body == ""


def test_a_released_hold_no_longer_protects_from_delete(
    officer: User, member: User, channel: Channel
) -> None:
    message = send(member, channel, "gone later")
    placed = hold(officer, users=(member,))
    services.legal_hold_release(actor=officer, hold_id=placed.pk)

    chat_services.message_delete(user=member, message_id=message.pk)

    message.refresh_from_db()
    assert message.body == ""


# --- who manages them ----------------------------------------------------------------------------


def test_administrators_do_not_get_the_hold_permission_with_their_role(admin: User) -> None:
    assert LEGAL_HOLD_PERMISSION not in admin_permissions()
    assert not admin.has_perm(LEGAL_HOLD_PERMISSION)
    assert not may_manage_legal_holds(user=admin)


def test_the_owner_and_compliance_officers_manage_holds(owner: User, officer: User) -> None:
    assert may_manage_legal_holds(user=owner)
    assert may_manage_legal_holds(user=officer)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MEMBER, Role.GUEST])
def test_others_cannot_place_or_release_holds(
    role: str, officer: User, channel: Channel, make_user: Callable[..., User]
) -> None:
    actor = make_user(role)
    placed = hold(officer, channels=(channel,))
    with raises_domain_error("not_compliance_officer", 403):
        hold(actor, channels=(channel,))
    with raises_domain_error("not_compliance_officer", 403):
        services.legal_hold_release(actor=actor, hold_id=placed.pk)


def test_revoking_the_officer_takes_the_permission_away(officer: User) -> None:
    call_command("compliance_officer", officer.username, "--revoke")

    assert not may_manage_legal_holds(user=User.objects.get(pk=officer.pk))


def test_a_hold_needs_a_name_and_existing_targets(officer: User) -> None:
    with raises_domain_error("invalid_legal_hold", 400):
        services.legal_hold_create(actor=officer, name=" ", reason="x", user_ids=[], channel_ids=[])
    with raises_domain_error("invalid_legal_hold_target", 400):
        services.legal_hold_create(
            actor=officer, name="n", reason="r", user_ids=[10**9], channel_ids=[]
        )


def test_a_hold_is_released_once(officer: User, channel: Channel) -> None:
    placed = hold(officer, channels=(channel,))
    services.legal_hold_release(actor=officer, hold_id=placed.pk)

    with raises_domain_error("legal_hold_released", 409):
        services.legal_hold_release(actor=officer, hold_id=placed.pk)


def test_holds_are_audited(officer: User, member: User, channel: Channel) -> None:
    placed = hold(officer, users=(member,), channels=(channel,))
    services.legal_hold_release(actor=officer, hold_id=placed.pk)

    created = AuditEvent.objects.get(action=LEGAL_HOLD_CREATED)
    released = AuditEvent.objects.get(action=LEGAL_HOLD_RELEASED)
    assert (created.actor_id, created.target_id, created.target_label) == (
        officer.pk,
        str(placed.pk),
        "Case 42",
    )
    assert created.metadata == {
        "reason": "Litigation",
        "user_ids": [member.pk],
        "channel_ids": [channel.pk],
    }
    assert (released.actor_id, released.target_id) == (officer.pk, str(placed.pk))
    assert audit_action_label(LEGAL_HOLD_CREATED) == "legal hold placed"
    assert AuditEvent.objects.filter(action="compliance_officer.granted").count() == 1


def test_a_deleted_file_of_a_held_message_is_not_purged_until_the_release(
    officer: User, member: User, channel: Channel
) -> None:
    attachment = clean_image_attachment(member, name="kept.png")
    message = chat_services.message_send(
        sender=member, channel_id=channel.pk, body="file", attachment_ids=[attachment.pk]
    ).message
    placed = hold(officer, channels=(channel,))
    file_services.attachment_delete(actor=member, attachment_id=attachment.pk)

    file_services.attachments_purge_deleted(older_than=timedelta(0))
    assert Attachment.objects.filter(pk=attachment.pk).exists()

    services.legal_hold_release(actor=officer, hold_id=placed.pk)
    file_services.attachments_purge_deleted(older_than=timedelta(0))
    assert not Attachment.objects.filter(pk=attachment.pk).exists()
    assert Message.objects.filter(pk=message.pk).exists()
