"""Erasure of a departed employee's personal data: what goes, what stays (their messages),
legal holds, the directory sync, the admin console and the command."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable
from typing import Any

import pytest
from axes.models import AccessLog
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from apps.accounts import services as account_services
from apps.accounts.ldap_sync import (
    DirectoryEntry,
    DirectorySyncResult,
    _apply_entry,
    _profile_for,
    _sync_plan,
    directory_config,
)
from apps.accounts.models import (
    APIToken,
    AuditEvent,
    DirectoryProfile,
    Invitation,
    NotificationSettings,
    Role,
    User,
    UserSession,
    UserStatus,
)
from apps.chat.models import Channel, Message
from apps.core.errors import DomainError
from apps.governance.audit import PERSONAL_DATA_ERASED
from apps.governance.erasure import personal_data_erase
from apps.governance.models import DataExport, LegalHold
from apps.workspace.models import Reminder, SavedMessage
from tests.accounts.test_avatar import picture, put_avatar
from tests.chat.support import send

pytestmark = pytest.mark.django_db

DIRECTORY_ID = "5f1c0c4e-0000-4000-8000-00000000a11c"


@pytest.fixture
def leaver(make_user: Callable[..., User]) -> User:
    user = make_user(
        username="zhang.wei",
        first_name="Wei",
        last_name="Zhang",
        display_name="张伟",
        email="zhang.wei@example.com",
    )
    DirectoryProfile.objects.create(
        user=user,
        dn="uid=zhang.wei,ou=people,dc=example,dc=com",
        directory_id=DIRECTORY_ID,
        phone="+86 21 5555",
        department="Finance",
        title="Controller",
    )
    return user


@pytest.fixture
def colleague(make_user: Callable[..., User]) -> User:
    return make_user()


@pytest.fixture
def room(make_channel: Callable[..., Channel], leaver: User, colleague: User) -> Channel:
    return make_channel(name="finance", members=(leaver, colleague))


@pytest.fixture
def admin_user(make_user: Callable[..., User]) -> User:
    return make_user(Role.ADMIN, is_staff=True)


def _everything_personal(leaver: User, room: Channel) -> Message:
    """A message with a saved item and a reminder, a token, a session, a TOTP device, a
    status, notification settings and a data export of the leaver's."""
    message = send(leaver, room, "quarterly numbers")
    account_services.api_token_create(user=leaver, name="laptop")
    UserSession.objects.create(user=leaver, session_key="k" * 32)
    TOTPDevice.objects.create(user=leaver, name="phone", confirmed=True)
    UserStatus.objects.create(user=leaver, emoji="🌴", text="On leave")
    NotificationSettings.objects.create(user=leaver, sound=False)
    SavedMessage.objects.create(user=leaver, message=message, saved_at=message.created_at)
    Reminder.objects.create(user=leaver, message=message, remind_at=message.created_at)
    DataExport.objects.create(user=leaver)
    Invitation.objects.create(
        email="zhang.wei@example.com",
        accepted_user=leaver,
        expires_at=message.created_at,
        accepted_at=message.created_at,
    )
    AccessLog.objects.create(username="zhang.wei", user_agent="x", http_accept="*/*", path_info="/")
    return message


def test_erasure_keeps_the_messages_and_removes_the_personal_data(
    client_for: Callable[[User | None], APIClient],
    leaver: User,
    colleague: User,
    room: Channel,
    admin_user: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    message = _everything_personal(leaver, room)
    put_avatar(client_for(leaver), picture())
    leaver.refresh_from_db()
    avatar_url = leaver.avatar.url
    signed_in = Client()
    signed_in.force_login(colleague)
    assert signed_in.get(avatar_url).status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        erasure = personal_data_erase(actor=admin_user, user_id=leaver.pk)

    leaver.refresh_from_db()
    assert erasure.label == f"Former employee {leaver.pk}"
    assert leaver.display_name == erasure.label
    assert leaver.name == erasure.label
    assert not leaver.is_active
    assert leaver.username == f"former-{leaver.pk}"
    assert (leaver.first_name, leaver.last_name, leaver.email) == ("", "", "")
    assert not leaver.avatar
    assert not leaver.has_usable_password()
    assert not APIToken.objects.filter(user=leaver).exists()
    assert not UserSession.objects.filter(user=leaver).exists()
    assert not TOTPDevice.objects.filter(user=leaver).exists()
    assert not DirectoryProfile.objects.filter(user=leaver).exists()
    assert not UserStatus.objects.filter(user=leaver).exists()
    assert not NotificationSettings.objects.filter(user=leaver).exists()
    assert not SavedMessage.objects.filter(user=leaver).exists()
    assert not Reminder.objects.filter(user=leaver).exists()
    assert not DataExport.objects.filter(user=leaver).exists()
    assert Invitation.objects.get(accepted_user=leaver).email == ""
    assert not AccessLog.objects.filter(username="zhang.wei").exists()
    message.refresh_from_db()
    assert message.body == "quarterly numbers"
    assert message.deleted_at is None
    assert erasure.messages_kept == 1

    api = client_for(colleague)
    assert api.get(reverse("chat_api:user", args=[leaver.pk])).status_code == 404
    listed = api.get(reverse("chat_api:users")).json()["results"]
    assert leaver.pk not in [u["id"] for u in listed]
    found = api.get(reverse("search_api:search"), {"q": "from:zhang.wei quarterly"}).json()
    assert found["results"] == []
    history = api.get(reverse("chat_api:messages", args=[room.pk])).json()
    [row] = [m for m in history["messages"] if m["id"] == message.pk]
    assert row["sender_name"] == erasure.label
    assert signed_in.get(avatar_url).status_code == 404
    event = AuditEvent.objects.get(action=PERSONAL_DATA_ERASED)
    assert event.actor_id == admin_user.pk
    assert "zhang" not in event.target_label.lower()


def test_the_history_cache_is_not_served_with_the_old_name(
    client_for: Callable[[User | None], APIClient],
    leaver: User,
    colleague: User,
    room: Channel,
) -> None:
    message = send(leaver, room, "hello")
    api = client_for(colleague)
    url = reverse("chat_api:messages", args=[room.pk])
    before = api.get(url).json()
    assert [m["sender_name"] for m in before["messages"] if m["id"] == message.pk] == ["张伟"]
    version = Message.objects.get(pk=message.pk).version

    personal_data_erase(actor=None, user_id=leaver.pk)

    after = api.get(url).json()
    assert [m["sender_name"] for m in after["messages"] if m["id"] == message.pk] == [
        f"Former employee {leaver.pk}"
    ]
    assert Message.objects.get(pk=message.pk).version > version


def test_erasure_with_delete_messages_deletes_them_through_chat(
    leaver: User, room: Channel, admin_user: User
) -> None:
    message = send(leaver, room, "delete me")

    erasure = personal_data_erase(actor=admin_user, user_id=leaver.pk, delete_messages=True)

    message.refresh_from_db()
    assert erasure.messages_deleted == 1
    assert message.deleted_at is not None
    assert message.body == ""


def test_legal_hold_on_the_person_refuses_deleting_their_messages(
    leaver: User, room: Channel, admin_user: User
) -> None:
    message = send(leaver, room, "evidence")
    hold = LegalHold.objects.create(name="Case 1", reason="Litigation")
    hold.users.add(leaver)

    with pytest.raises(DomainError) as refused:
        personal_data_erase(actor=admin_user, user_id=leaver.pk, delete_messages=True)

    assert refused.value.code == "erasure_blocked_by_legal_hold"
    message.refresh_from_db()
    leaver.refresh_from_db()
    assert message.deleted_at is None
    assert leaver.is_active  # nothing was changed
    assert leaver.display_name == "张伟"


def test_legal_hold_on_a_channel_refuses_deleting_their_messages_there(
    leaver: User, room: Channel, admin_user: User
) -> None:
    send(leaver, room, "evidence")
    hold = LegalHold.objects.create(name="Case 2", reason="Audit")
    hold.channels.add(room)

    with pytest.raises(DomainError) as refused:
        personal_data_erase(actor=admin_user, user_id=leaver.pk, delete_messages=True)

    assert refused.value.code == "erasure_blocked_by_legal_hold"


def test_a_held_person_can_still_be_erased_keeping_the_messages(
    leaver: User, room: Channel, admin_user: User
) -> None:
    message = send(leaver, room, "evidence")
    hold = LegalHold.objects.create(name="Case 3", reason="Litigation")
    hold.users.add(leaver)

    personal_data_erase(actor=admin_user, user_id=leaver.pk)

    message.refresh_from_db()
    assert message.body == "evidence"


def _entry(*, disabled: bool) -> DirectoryEntry:
    return DirectoryEntry(
        dn="uid=zhang.wei,ou=people,dc=example,dc=com",
        username="zhang.wei",
        fields={
            "first_name": "Wei",
            "last_name": "Zhang",
            "display_name": "张伟",
            "email": "zhang.wei@example.com",
            "phone": "+86 21 5555",
            "department": "Finance",
            "title": "Controller",
        },
        disabled=disabled,
        group_dns=frozenset(),
        directory_id=DIRECTORY_ID,
    )


@pytest.mark.parametrize("disabled", [True, False])
def test_the_directory_sync_does_not_bring_the_data_back(leaver: User, disabled: bool) -> None:
    personal_data_erase(actor=None, user_id=leaver.pk)
    entry = _entry(disabled=disabled)
    config = dataclasses.replace(directory_config(), adopt_local_users=True)

    assert _profile_for(entry) is None
    plan = _sync_plan([entry])
    assert plan.matched == [None]
    assert plan.removed == []
    assert plan.disabled == []
    created = _apply_entry(entry, config, DirectorySyncResult(), plan.matched[0])

    leaver.refresh_from_db()
    assert not leaver.is_active
    assert leaver.display_name == f"Former employee {leaver.pk}"
    assert leaver.email == ""
    assert not DirectoryProfile.objects.filter(user=leaver).exists()
    if disabled:
        assert created is None
    else:  # still enabled in the directory: a new, separate account, not the erased one
        assert created is not None
        assert created.pk != leaver.pk


def test_administrators_erase_members_from_the_users_list(
    admin_user: User, leaver: User, django_capture_on_commit_callbacks: Any
) -> None:
    browser = Client()
    browser.force_login(admin_user)
    url = reverse("admin:accounts_user_changelist")
    form = {"action": "erase_personal_data", "_selected_action": [leaver.pk]}

    confirm = browser.post(url, form)
    assert confirm.status_code == 200
    assert b"zhang.wei" in confirm.content
    leaver.refresh_from_db()
    assert leaver.is_active  # only asked

    browser.post(url, {**form, "confirmed": "yes"})
    leaver.refresh_from_db()
    assert not leaver.is_active
    assert leaver.display_name == f"Former employee {leaver.pk}"


def test_administrators_cannot_erase_administrators(
    admin_user: User, make_user: Callable[..., User]
) -> None:
    other_admin = make_user(Role.ADMIN, is_staff=True, display_name="Other")
    browser = Client()
    browser.force_login(admin_user)
    browser.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "erase_personal_data", "_selected_action": [other_admin.pk], "confirmed": "yes"},
    )
    other_admin.refresh_from_db()
    assert other_admin.is_active
    assert other_admin.display_name == "Other"

    with pytest.raises(DomainError) as refused:
        personal_data_erase(actor=admin_user, user_id=other_admin.pk)
    assert refused.value.code == "cannot_manage_user"


def test_owner_erases_an_administrator(make_user: Callable[..., User]) -> None:
    owner = make_user(Role.OWNER)
    other_admin = make_user(Role.ADMIN)
    personal_data_erase(actor=owner, user_id=other_admin.pk)
    other_admin.refresh_from_db()
    assert not other_admin.is_active


def test_members_cannot_erase(
    make_user: Callable[..., User], leaver: User, colleague: User
) -> None:
    with pytest.raises(DomainError) as refused:
        personal_data_erase(actor=colleague, user_id=leaver.pk)
    assert refused.value.code == "not_org_admin"

    browser = Client()
    browser.force_login(colleague)
    answer = browser.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "erase_personal_data", "_selected_action": [leaver.pk], "confirmed": "yes"},
    )
    assert answer.status_code == 302  # to the admin's sign-in: not staff
    leaver.refresh_from_db()
    assert leaver.is_active


def test_nobody_erases_themself(make_user: Callable[..., User]) -> None:
    owner = make_user(Role.OWNER)
    with pytest.raises(DomainError) as refused:
        personal_data_erase(actor=owner, user_id=owner.pk)
    assert refused.value.code == "cannot_erase_self"


def test_the_command_erases_and_keeps_messages(leaver: User, room: Channel) -> None:
    message = send(leaver, room, "kept")
    out = io.StringIO()

    call_command("erase_personal_data", "zhang.wei", stdout=out)

    leaver.refresh_from_db()
    message.refresh_from_db()
    assert "Former employee" in out.getvalue()
    assert leaver.display_name == f"Former employee {leaver.pk}"
    assert message.body == "kept"


def test_the_command_refuses_to_delete_held_messages(leaver: User, room: Channel) -> None:
    send(leaver, room, "evidence")
    hold = LegalHold.objects.create(name="Case 4", reason="Litigation")
    hold.users.add(leaver)

    with pytest.raises(CommandError, match="erasure_blocked_by_legal_hold"):
        call_command("erase_personal_data", "zhang.wei", "--delete-messages")
    leaver.refresh_from_db()
    assert leaver.is_active


def test_the_command_says_when_there_is_no_such_user(db: Any) -> None:
    with pytest.raises(CommandError, match="No user"):
        call_command("erase_personal_data", "nobody")


def test_erased_label_follows_the_organisation_language(
    settings: Any, leaver: User, make_user: Callable[..., User]
) -> None:
    settings.LANGUAGE_CODE = "zh-hans"
    erasure = personal_data_erase(actor=None, user_id=leaver.pk)
    # The catalogue may not hold the string yet (it is merged later); the label is stored
    # in one language either way.
    assert erasure.label in (f"Former employee {leaver.pk}", f"前员工 {leaver.pk}")
