"""The audit log: what writes it, that it cannot be rewritten, and the admin's view of it."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from apps.accounts import services
from apps.accounts.audit import AuditAction, audit_record
from apps.accounts.models import AuditEvent, AuditLogImmutable, Role, User
from apps.chat.services import channel_set_archived
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def owner() -> User:
    return UserFactory(username="boss", role=Role.OWNER, is_staff=True, is_superuser=True)


def admin_client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action))


# --- what writes it ------------------------------------------------------------------------------


def test_successful_login_is_audited_with_ip_and_user_agent() -> None:
    user = UserFactory(username="dana")

    Client(REMOTE_ADDR="10.1.2.3", HTTP_USER_AGENT="Firefox/200").post(
        reverse("accounts:login"), {"username": "dana", "password": PASSWORD}
    )

    [event] = events(AuditAction.LOGIN_SUCCEEDED)
    assert (event.actor_id, event.actor_label) == (user.pk, "dana")
    assert event.ip_address == "10.1.2.3"
    assert event.user_agent == "Firefox/200"


def test_failed_login_is_audited_with_the_username_but_not_the_password() -> None:
    UserFactory(username="dana")

    Client(REMOTE_ADDR="10.9.9.9").post(
        reverse("accounts:login"), {"username": "dana", "password": "guess-123"}
    )

    [event] = events(AuditAction.LOGIN_FAILED)
    assert event.target_label == "dana"
    assert event.ip_address == "10.9.9.9"
    assert event.actor_id is None
    assert "guess-123" not in str(event.metadata)


def test_role_change_is_audited_with_old_and_new_role() -> None:
    actor = owner()
    user = UserFactory(role=Role.MEMBER)

    services.user_set_role(user=user, role=Role.ADMIN, actor=actor)

    [event] = events(AuditAction.ROLE_CHANGED)
    assert event.actor_id == actor.pk
    assert event.target_id == str(user.pk)
    assert event.metadata == {"from": "member", "to": "admin"}


def test_setting_the_same_role_writes_nothing() -> None:
    user = UserFactory(role=Role.MEMBER)

    services.user_set_role(user=user, role=Role.MEMBER)

    assert not events(AuditAction.ROLE_CHANGED)


def test_deactivation_and_reactivation_are_audited() -> None:
    actor = owner()
    user = UserFactory()

    services.user_deactivate(user=user, actor=actor)
    services.user_reactivate(user=user, actor=actor)

    assert [e.actor_id for e in events(AuditAction.USER_DEACTIVATED)] == [actor.pk]
    assert [e.target_id for e in events(AuditAction.USER_REACTIVATED)] == [str(user.pk)]


def test_token_creation_and_revocation_are_audited() -> None:
    user = UserFactory()

    token, _raw = services.api_token_create(user=user, name="ci")
    services.api_token_revoke(user=user, token_id=token.pk)

    [created] = events(AuditAction.TOKEN_CREATED)
    [revoked] = events(AuditAction.TOKEN_REVOKED)
    assert created.metadata["prefix"] == token.prefix
    assert revoked.target_id == str(token.pk)


def test_channel_archive_and_unarchive_are_audited(make_channel: Any) -> None:
    actor = UserFactory(role=Role.ADMIN)
    channel = make_channel(admins=(actor,))

    channel_set_archived(actor=actor, channel_id=channel.pk, archived=True)
    channel_set_archived(actor=actor, channel_id=channel.pk, archived=False)

    assert [e.target_id for e in events(AuditAction.CHANNEL_ARCHIVED)] == [str(channel.pk)]
    assert len(events(AuditAction.CHANNEL_UNARCHIVED)) == 1


def test_admin_deactivate_action_is_audited_with_the_admin_as_actor() -> None:
    boss = owner()
    user = UserFactory()

    admin_client(boss).post(
        reverse("admin:accounts_user_changelist"),
        {"action": "deactivate_users", "_selected_action": [user.pk]},
    )

    user.refresh_from_db()
    assert not user.is_active
    [event] = events(AuditAction.USER_DEACTIVATED)
    assert event.actor_label == "boss"


# --- append-only ---------------------------------------------------------------------------------


def test_audit_events_cannot_be_changed_or_deleted() -> None:
    event = audit_record(action=AuditAction.LOGOUT, target_label="x")

    event.target_label = "rewritten"
    with pytest.raises(AuditLogImmutable):
        event.save()
    with pytest.raises(AuditLogImmutable):
        event.delete()
    with pytest.raises(AuditLogImmutable):
        AuditEvent.objects.filter(pk=event.pk).update(target_label="rewritten")
    with pytest.raises(AuditLogImmutable):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=event.pk).target_label == "x"


def test_admin_cannot_add_change_or_delete_audit_events() -> None:
    client = admin_client(owner())
    event = audit_record(action=AuditAction.LOGOUT, target_label="x")

    assert client.get(reverse("admin:accounts_auditevent_add")).status_code == 403
    assert client.get(reverse("admin:accounts_auditevent_delete", args=[event.pk])).status_code in (
        403,
        302,
    )
    client.post(reverse("admin:accounts_auditevent_change", args=[event.pk]), {"target_label": "y"})
    assert AuditEvent.objects.get(pk=event.pk).target_label == "x"


def test_non_staff_cannot_read_the_audit_log() -> None:
    response = admin_client(UserFactory()).get(reverse("admin:accounts_auditevent_changelist"))

    assert response.status_code == 302  # to the admin log-in


def test_admin_audit_log_is_searchable_and_filterable() -> None:
    client = admin_client(owner())
    audit_record(action=AuditAction.LOGIN_FAILED, target_label="mallory-probe")
    audit_record(action=AuditAction.TOKEN_CREATED, target_label="someone-else")
    url = reverse("admin:accounts_auditevent_changelist")

    searched = client.get(url, {"q": "mallory"}).content.decode()
    filtered = client.get(url, {"action": AuditAction.TOKEN_CREATED}).content.decode()

    assert "mallory-probe" in searched
    assert "someone-else" not in searched
    assert "someone-else" in filtered
    assert "mallory-probe" not in filtered


def test_csv_export_lists_events_neutralises_formulas_and_is_itself_audited() -> None:
    client = admin_client(owner())
    first = audit_record(action=AuditAction.LOGIN_FAILED, target_label="=HYPERLINK(evil)")
    second = audit_record(action=AuditAction.LOGOUT, target_label="plain")

    response = client.post(
        reverse("admin:accounts_auditevent_changelist"),
        {"action": "export_csv", "_selected_action": [first.pk, second.pk]},
    )

    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [row["target_label"] for row in rows] == ["'=HYPERLINK(evil)", "plain"]
    assert rows[0]["action"] == AuditAction.LOGIN_FAILED
    [exported] = events(AuditAction.AUDIT_EXPORTED)
    assert exported.metadata == {"rows": 2}


def test_admin_user_list_shows_source_and_2fa_and_filters_by_source() -> None:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from apps.accounts.models import DirectoryProfile

    client = admin_client(owner())
    directory_user = UserFactory(username="fromldap")
    DirectoryProfile.objects.create(user=directory_user, dn="uid=fromldap,dc=example,dc=com")
    TOTPDevice.objects.create(user=UserFactory(username="careful"), name="a", confirmed=True)
    url = reverse("admin:accounts_user_changelist")

    everyone = client.get(url).content.decode()
    directory_only = client.get(url, {"source": "directory"}).content.decode()

    assert "fromldap" in everyone
    assert "careful" in everyone
    assert "fromldap" in directory_only
    assert "careful" not in directory_only
