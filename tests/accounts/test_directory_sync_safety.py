"""The sync's safety limit on deactivations, and people renamed in the directory (real slapd)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from apps.accounts import services
from apps.accounts.audit import AuditAction
from apps.accounts.ldap_sync import DirectorySyncRefused, DirectoryUnavailable, directory_sync
from apps.accounts.models import APIToken, AuditEvent, DirectoryProfile, DirectorySyncRun, User
from apps.accounts.tasks import directory_sync_task
from tests.accounts.conftest import _require_slapd
from tests.accounts.ldap_server import LdapServer, ldap_settings
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.ldap]

AddPerson = Callable[..., str]
NARROW_FILTER = "(&(objectClass=inetOrgPerson)(|(uid=alice)(uid=bob)))"


@pytest.fixture
def company(directory_person: AddPerson) -> list[str]:
    """Ten more people beside alice, bob and carol, all synced once."""
    dns = [directory_person(f"staff{i:02d}") for i in range(10)]
    directory_sync()
    assert User.objects.filter(is_active=True, directory_profile__isnull=False).count() == 13
    return dns


@pytest.fixture
def rename(directory: LdapServer) -> Iterator[Callable[[str, str], str]]:
    """`new_dn = rename(dn, new_uid)`; the renamed entry is removed after the test."""
    renamed: list[str] = []

    def do(dn: str, new_uid: str) -> str:
        renamed.append(directory.rename_person(dn, new_uid))
        return renamed[-1]

    yield do
    for dn in renamed:
        directory.delete_person(dn)


def narrow_the_filter(settings: Any) -> None:
    settings.ENCLAVE_LDAP = {**settings.ENCLAVE_LDAP, "SYNC_FILTER": NARROW_FILTER}


def active_directory_users() -> int:
    return User.objects.filter(is_active=True, directory_profile__isnull=False).count()


# --- the safety limit -----------------------------------------------------------------------------


def test_sync_that_would_deactivate_most_people_is_refused_and_changes_nothing(
    settings: Any, directory: LdapServer, company: list[str]
) -> None:
    staff = User.objects.get(username="staff00")
    services.api_token_create(user=staff, name="cli")
    directory.replace("uid=bob,ou=people,dc=example,dc=com", "title", "Sales Director")
    narrow_the_filter(settings)

    with pytest.raises(DirectorySyncRefused) as refused:
        directory_sync()

    assert refused.value.code == "directory_sync_refused"
    assert "11 of 13" in refused.value.message
    assert active_directory_users() == 13
    assert APIToken.objects.filter(user=staff, revoked_at__isnull=True).exists()
    assert User.objects.get(username="bob").directory_profile.title == "Account Manager"
    run = DirectorySyncRun.objects.order_by("-pk").first()
    assert run is not None
    assert (run.ok, run.refused, run.deactivated) == (False, True, 0)
    assert "11 of 13" in run.error
    event = AuditEvent.objects.get(action=AuditAction.DIRECTORY_SYNC_REFUSED)
    assert event.metadata["would_deactivate"] == 11
    assert event.metadata["active_directory_users"] == 13
    assert event.metadata["limit_percent"] == 10


def test_sync_within_the_limit_deactivates(
    settings: Any, directory: LdapServer, company: list[str]
) -> None:
    directory.delete_person(company[0])

    result = directory_sync()

    assert result.deactivated == ["staff00 (removed from the directory)"]


def test_the_limit_is_a_setting(settings: Any, directory: LdapServer, company: list[str]) -> None:
    settings.ENCLAVE_LDAP = {**settings.ENCLAVE_LDAP, "SYNC_MAX_DEACTIVATE_PERCENT": 90}
    narrow_the_filter(settings)

    result = directory_sync()

    assert len(result.deactivated) == 11


def test_ldap_sync_command_refuses_and_says_how_to_allow_it(
    settings: Any, directory: LdapServer, company: list[str]
) -> None:
    narrow_the_filter(settings)

    with pytest.raises(CommandError, match="--allow-mass-deactivation"):
        call_command("ldap_sync", stdout=io.StringIO())
    out = io.StringIO()
    call_command("ldap_sync", "--allow-mass-deactivation", stdout=out)

    assert active_directory_users() == 2
    assert "11 deactivated" in out.getvalue()


def test_periodic_sync_is_refused_too(
    settings: Any, directory: LdapServer, company: list[str]
) -> None:
    narrow_the_filter(settings)

    counts = directory_sync_task.delay().get()

    assert counts == {"refused": 1}
    assert active_directory_users() == 13


def test_admin_shows_a_refused_run(
    settings: Any, directory: LdapServer, company: list[str], make_user: Callable[..., Any]
) -> None:
    narrow_the_filter(settings)
    with pytest.raises(DirectorySyncRefused):
        directory_sync()
    owner = make_user(role="owner", is_staff=True, is_superuser=True)
    admin = Client()
    admin.force_login(owner)

    page = admin.get(reverse("admin:accounts_directorysyncrun_changelist")).content.decode()

    assert "Refused" in page
    assert "11 of 13" in page


# --- renamed in the directory -------------------------------------------------------------------


def test_sync_keeps_the_account_of_a_person_renamed_in_the_directory(
    directory: LdapServer, directory_person: AddPerson, rename: Callable[[str, str], str]
) -> None:
    dn = directory_person("sam", mail="sam@example.com")
    directory_sync()
    sam = User.objects.get(username="sam")
    services.api_token_create(user=sam, name="cli")
    new_dn = rename(dn, "samuel")

    result = directory_sync()

    renamed = User.objects.get(pk=sam.pk)
    assert (renamed.username, renamed.is_active) == ("samuel", True)
    assert not User.objects.filter(username="sam").exists()
    assert APIToken.objects.filter(user=sam, revoked_at__isnull=True).exists()
    assert renamed.directory_profile.dn == new_dn
    assert result.deactivated == []
    assert result.renamed == ["sam → samuel"]
    event = AuditEvent.objects.get(action=AuditAction.USER_RENAMED)
    assert event.metadata == {"from": "sam", "to": "samuel"}


def test_sign_in_with_the_new_username_keeps_the_account(
    directory: LdapServer, directory_person: AddPerson, rename: Callable[[str, str], str]
) -> None:
    dn = directory_person("tom", password="tom-pass")
    assert Client().post(reverse("accounts:login"), {"username": "tom", "password": "tom-pass"})
    tom = User.objects.get(username="tom")
    rename(dn, "thomas")

    client = Client()
    response = client.post(
        reverse("accounts:login"), {"username": "thomas", "password": "tom-pass"}
    )

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(tom.pk)
    assert User.objects.get(pk=tom.pk).username == "thomas"
    # One person, one account (the welcome's sender, a bot, does not count).
    assert User.objects.filter(is_bot=False).count() == 1


def test_the_stable_id_is_stored_and_learnt_by_username_for_existing_users(
    directory: LdapServer, directory_person: AddPerson, rename: Callable[[str, str], str]
) -> None:
    dn = directory_person("una")
    directory_sync()
    profile = DirectoryProfile.objects.get(user__username="una")
    assert profile.directory_id == directory.entry_uuid(dn)
    # As a user synced before the stable id existed:
    DirectoryProfile.objects.filter(pk=profile.pk).update(directory_id=None)
    directory_sync()
    profile.refresh_from_db()
    assert profile.directory_id == directory.entry_uuid(dn)
    rename(dn, "unity")

    directory_sync()

    assert User.objects.get(pk=profile.user_id).username == "unity"


def test_a_new_person_with_a_departed_persons_username_is_not_merged_into_that_account(
    directory: LdapServer, directory_person: AddPerson
) -> None:
    dn = directory_person("vic")
    directory_sync()
    first = User.objects.get(username="vic")
    directory.delete_person(dn)
    directory_sync()
    directory_person("vic")  # somebody else, later, with the same uid

    result = directory_sync()

    first.refresh_from_db()
    assert not first.is_active
    assert first.username == "vic"
    assert any("vic" in warning for warning in result.warnings)


def test_rename_onto_a_local_account_keeps_the_old_username(
    directory: LdapServer, directory_person: AddPerson, rename: Callable[[str, str], str]
) -> None:
    dn = directory_person("wes")
    directory_sync()
    wes = User.objects.get(username="wes")
    UserFactory(username="wesley")
    rename(dn, "wesley")

    result = directory_sync()

    wes.refresh_from_db()
    assert (wes.username, wes.is_active) == ("wes", True)
    assert any("wesley" in warning for warning in result.warnings)


# --- the service account's size limit ------------------------------------------------------------


@pytest.fixture
def size_limited_directory(settings: Any) -> Iterator[LdapServer]:
    """A slapd that answers the service account at most 3 entries a search (OpenLDAP's
    default is 500), with more people than that."""
    _require_slapd()
    server = LdapServer(size_limit=3).start()
    service_dn = server.add_person("enclave-svc", password="service-pass")
    for i in range(3):
        server.add_person(f"person{i}")
    settings.ENCLAVE_LDAP = ldap_settings(server, BIND_DN=service_dn, BIND_PASSWORD="service-pass")
    yield server
    server.destroy()


def test_a_size_limit_below_the_company_stops_the_sync_and_says_so(
    size_limited_directory: LdapServer,
) -> None:
    with pytest.raises(DirectoryUnavailable) as error:
        directory_sync()

    assert "size limit" in error.value.message
    assert "olcLimits" in error.value.message  # says what the directory administrator must do
    assert not User.objects.exists()
