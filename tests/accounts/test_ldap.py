"""LDAP / Active Directory: log-in, mapping, sync and failure modes, against a real slapd."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from apps.accounts import services
from apps.accounts.ldap_sync import (
    DirectoryUnavailable,
    directory_config,
    directory_read_one,
    directory_sync,
)
from apps.accounts.models import APIToken, DirectoryProfile, DirectorySyncRun, Role, User
from apps.accounts.tasks import directory_sync_task
from apps.chat.models import ChannelKind, Membership
from tests.accounts.conftest import DIRECTORY_BACKENDS
from tests.accounts.ldap_server import LdapServer, ldap_settings
from tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.ldap]

AddPerson = Callable[..., str]


def login(username: str, password: str) -> tuple[Client, Any]:
    client = Client()
    response = client.post(reverse("accounts:login"), {"username": username, "password": password})
    return client, response


# --- log-in --------------------------------------------------------------------------------------


def test_directory_user_signs_in_with_directory_password(directory: LdapServer) -> None:
    client, response = login("alice", "alice-directory-pass")

    assert response.status_code == 302
    user = User.objects.get(username="alice")
    assert client.session["_auth_user_id"] == str(user.pk)
    assert not user.has_usable_password()  # the password stays in the directory
    assert DirectoryProfile.objects.filter(user=user).exists()


def test_wrong_directory_password_is_refused(directory: LdapServer) -> None:
    _client, response = login("alice", "not-her-password")

    assert response.status_code == 200
    assert "_auth_user_id" not in _client.session


def test_login_maps_directory_attributes(directory: LdapServer) -> None:
    login("alice", "alice-directory-pass")

    user = User.objects.select_related("directory_profile").get(username="alice")
    assert (user.first_name, user.last_name, user.display_name) == ("Alice", "Chen", "Alice Chen")
    assert user.email == "alice@example.com"
    profile = user.directory_profile
    assert profile.phone == "+86 10 5555 0101"
    assert profile.department == "Engineering"
    assert profile.title == "Staff Engineer"
    assert profile.dn == "uid=alice,ou=people,dc=example,dc=com"


def test_directory_groups_map_to_role_and_channels_including_nested_groups(
    directory: LdapServer, make_channel: Callable[..., Any]
) -> None:
    engineering = make_channel(name="engineering", kind=ChannelKind.PRIVATE)
    general = make_channel(name="general")

    login("alice", "alice-directory-pass")

    alice = User.objects.get(username="alice")
    assert alice.role == Role.ADMIN  # it-admins -> admin
    assert alice.is_staff
    # engineering directly; general through engineering, a member of the staff group.
    assert Membership.objects.filter(user=alice, channel=engineering).exists()
    assert Membership.objects.filter(user=alice, channel=general).exists()


def test_user_outside_mapped_role_groups_gets_the_default_role(directory: LdapServer) -> None:
    login("bob", "bob-directory-pass")

    assert User.objects.get(username="bob").role == Role.MEMBER


@pytest.mark.parametrize(
    "username", ["*", "alice)(uid=*", "*)(uid=*))(|(uid=*", "al*", "alice\x00"]
)
def test_filter_injection_usernames_get_nothing(directory: LdapServer, username: str) -> None:
    assert authenticate(None, username=username, password="alice-directory-pass") is None
    assert directory_read_one(config=directory_config(), username=username) is None
    assert not User.objects.exists()


def test_local_account_still_signs_in_with_directory_configured(directory: LdapServer) -> None:
    local = UserFactory(username="localadmin")

    client, response = login("localadmin", PASSWORD)

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(local.pk)


def test_directory_cannot_take_over_a_local_account_with_the_same_username(
    directory: LdapServer,
) -> None:
    local = UserFactory(username="bob")

    _client, response = login("bob", "bob-directory-pass")

    assert response.status_code == 200  # refused: bob's directory password is not his
    assert not DirectoryProfile.objects.filter(user=local).exists()


def test_deactivated_directory_user_cannot_sign_in(directory: LdapServer) -> None:
    login("bob", "bob-directory-pass")
    services.user_deactivate(user=User.objects.get(username="bob"))

    _client, response = login("bob", "bob-directory-pass")

    assert response.status_code == 200
    assert authenticate(None, username="bob", password="bob-directory-pass") is None


# --- sync ----------------------------------------------------------------------------------------


def test_sync_creates_users_who_never_logged_in(directory: LdapServer) -> None:
    result = directory_sync()

    carol = User.objects.select_related("directory_profile").get(username="carol")
    assert "carol" in result.created
    assert carol.is_active
    assert carol.email == "carol@example.com"
    assert carol.directory_profile.department == "Finance"
    assert carol.last_login is None


def test_second_sync_with_no_directory_change_changes_nothing(directory: LdapServer) -> None:
    directory_sync()

    result = directory_sync()

    assert not result.changed


def test_sync_updates_changed_attributes(
    directory: LdapServer, directory_person: AddPerson
) -> None:
    dn = directory_person("dave", mail="dave@example.com", title="Intern")
    directory_sync()
    directory.replace(dn, "title", "Engineer")

    result = directory_sync()

    assert User.objects.get(username="dave").directory_profile.title == "Engineer"
    assert result.updated == ["dave: title"]


def test_sync_deactivates_user_removed_from_directory_and_ends_their_access(
    directory: LdapServer, directory_person: AddPerson
) -> None:
    dn = directory_person("erin", password="erin-pass")
    directory_sync()
    erin = User.objects.get(username="erin")
    _token, _raw = services.api_token_create(user=erin, name="cli")
    directory.delete_person(dn)

    result = directory_sync()

    erin.refresh_from_db()
    assert not erin.is_active
    assert result.deactivated == ["erin (removed from the directory)"]
    assert not APIToken.objects.filter(user=erin, revoked_at__isnull=True).exists()
    assert User.objects.get(username="alice").is_active  # everybody else stays


def test_sync_deactivates_user_disabled_by_the_disabled_filter(
    directory: LdapServer, directory_person: AddPerson
) -> None:
    dn = directory_person("fred")
    directory_sync()
    directory.replace(dn, "employeeType", "disabled")

    directory_sync()

    assert not User.objects.get(username="fred").is_active


def test_sync_deactivates_active_directory_account_with_disabled_bit(
    directory: LdapServer, directory_person: AddPerson
) -> None:
    dn = directory_person("gina", userAccountControl="512")  # NORMAL_ACCOUNT
    directory_sync()
    assert User.objects.get(username="gina").is_active
    directory.replace(dn, "userAccountControl", "514")  # NORMAL_ACCOUNT | ACCOUNTDISABLE

    directory_sync()

    assert not User.objects.get(username="gina").is_active


def test_disabled_directory_user_cannot_sign_in_before_the_next_sync(
    directory: LdapServer, directory_person: AddPerson
) -> None:
    dn = directory_person("hank", password="hank-pass")
    login("hank", "hank-pass")
    directory.replace(dn, "employeeType", "disabled")

    _client, response = login("hank", "hank-pass")

    assert response.status_code == 200
    assert not User.objects.get(username="hank").is_active


def test_sync_reactivates_user_it_deactivated_once_enabled_again(
    directory: LdapServer, directory_person: AddPerson
) -> None:
    dn = directory_person("ivy")
    directory_sync()
    directory.replace(dn, "employeeType", "disabled")
    directory_sync()
    directory.replace(dn, "employeeType", "staff")

    result = directory_sync()

    assert User.objects.get(username="ivy").is_active
    assert result.reactivated == ["ivy"]


def test_sync_never_reactivates_a_user_an_administrator_deactivated(
    directory: LdapServer,
) -> None:
    directory_sync()
    services.user_deactivate(user=User.objects.get(username="carol"))

    directory_sync()

    assert not User.objects.get(username="carol").is_active


def test_sync_leaves_local_accounts_alone(directory: LdapServer) -> None:
    local = UserFactory(username="localonly")

    directory_sync()

    local.refresh_from_db()
    assert local.is_active


def test_sync_applies_group_role_and_records_the_run(directory: LdapServer) -> None:
    result = directory_sync()

    assert User.objects.get(username="alice").role == Role.ADMIN
    run = DirectorySyncRun.objects.get()
    assert run.ok
    assert run.created == len(result.created) >= 3
    assert run.changes == result.lines()


# --- the directory fails -------------------------------------------------------------------------


def test_directory_stopped_mid_test_gives_clear_error_and_deactivates_nobody(
    settings: Any, private_ldap_server: LdapServer
) -> None:
    settings.ENCLAVE_LDAP = ldap_settings(private_ldap_server)
    settings.AUTHENTICATION_BACKENDS = DIRECTORY_BACKENDS
    directory_sync()
    active_before = set(User.objects.filter(is_active=True).values_list("username", flat=True))
    private_ldap_server.stop()

    with pytest.raises(DirectoryUnavailable) as error:
        directory_sync()

    assert error.value.code == "directory_unavailable"
    assert private_ldap_server.uri in error.value.message
    assert set(User.objects.filter(is_active=True).values_list("username", flat=True)) == (
        active_before
    )
    failed = DirectorySyncRun.objects.order_by("-pk").first()
    assert failed is not None
    assert not failed.ok
    assert failed.error == error.value.message


def test_login_page_says_when_the_directory_is_down_and_local_accounts_still_work(
    settings: Any, private_ldap_server: LdapServer
) -> None:
    settings.ENCLAVE_LDAP = ldap_settings(private_ldap_server)
    settings.AUTHENTICATION_BACKENDS = DIRECTORY_BACKENDS
    local = UserFactory(username="localadmin")
    private_ldap_server.stop()

    _client, refused = login("alice", "alice-directory-pass")
    client, accepted = login("localadmin", PASSWORD)

    assert refused.status_code == 200
    assert "directory cannot be reached" in refused.content.decode()
    assert accepted.status_code == 302
    assert client.session["_auth_user_id"] == str(local.pk)


def test_sync_refuses_when_the_directory_returns_nobody(settings: Any, directory: Any) -> None:
    directory_sync()
    settings.ENCLAVE_LDAP = {**settings.ENCLAVE_LDAP, "SYNC_FILTER": "(uid=no-such-person)"}

    with pytest.raises(DirectoryUnavailable):
        directory_sync()

    assert not User.objects.filter(is_active=False).exists()


# --- interfaces ----------------------------------------------------------------------------------


def test_ldap_sync_command_prints_what_changed(directory: LdapServer) -> None:
    out = io.StringIO()

    call_command("ldap_sync", stdout=out)

    printed = out.getvalue()
    assert "created: carol" in printed
    assert "role changed" not in printed  # alice is created as admin, not changed
    assert "Directory sync done" in printed


def test_ldap_sync_command_fails_clearly_without_a_directory(settings: Any) -> None:
    from django.core.management.base import CommandError

    settings.ENCLAVE_LDAP = {"SERVER_URI": ""}

    with pytest.raises(CommandError, match="ENCLAVE_LDAP_SERVER_URI"):
        call_command("ldap_sync")


def test_periodic_task_runs_the_sync(directory: LdapServer) -> None:
    counts = directory_sync_task.delay().get()

    assert counts["created"] >= 3
    assert User.objects.filter(username="carol").exists()


def test_sync_deactivation_is_audited_with_the_reason(
    directory: LdapServer, directory_person: AddPerson
) -> None:
    from apps.accounts.audit import AuditAction
    from apps.accounts.models import AuditEvent

    dn = directory_person("jack")
    directory_sync()
    directory.delete_person(dn)

    directory_sync()

    event = AuditEvent.objects.get(action=AuditAction.USER_DEACTIVATED, target_label="jack")
    assert event.actor_id is None
    assert event.metadata == {"reason": "removed from the directory"}
    sync = AuditEvent.objects.filter(action=AuditAction.DIRECTORY_SYNC).first()
    assert sync is not None
    assert "deactivated: jack (removed from the directory)" in sync.metadata["changes"]


@pytest.mark.django_db(transaction=True)
def test_user_removed_from_directory_while_signed_in_loses_session_and_sockets(
    directory: LdapServer, directory_person: AddPerson, captured_controls: list[dict[str, Any]]
) -> None:
    from apps.accounts.services import CLOSE_CODE_DEACTIVATED

    dn = directory_person("kate", password="kate-pass")
    client, response = login("kate", "kate-pass")
    assert response.status_code == 302
    kate = User.objects.get(username="kate")
    directory.delete_person(dn)

    directory_sync()

    assert client.get("/api/v1/users/me/").status_code in (401, 403)
    assert {"topics": [f"user.{kate.pk}"], "code": CLOSE_CODE_DEACTIVATED}.items() <= next(
        c for c in captured_controls if c["action"] == "close"
    ).items()
