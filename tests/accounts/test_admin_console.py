"""The IT admin's console: "Sync directory now" and a channel's "change owner"."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from apps.accounts.audit import AuditAction
from apps.accounts.models import AuditEvent, DirectorySyncRun, Role, User
from apps.chat.models import ChannelKind, ChannelRole, Membership
from tests.accounts.ldap_server import LdapServer, ldap_settings
from tests.factories import ChannelFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

SYNC_NOW = "admin:accounts_directorysyncrun_sync_now"


def owner_client() -> Client:
    client = Client()
    client.force_login(
        UserFactory(username="boss", role=Role.OWNER, is_staff=True, is_superuser=True)
    )
    return client


def page_messages(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_sync_directory_now_button_is_on_the_sync_runs_page() -> None:
    page = owner_client().get(reverse("admin:accounts_directorysyncrun_changelist"))
    assert reverse(SYNC_NOW) in page.content.decode()


def test_sync_directory_now_runs_the_sync_and_shows_what_changed(directory: LdapServer) -> None:
    response = owner_client().post(reverse(SYNC_NOW), follow=True)

    assert any("Directory sync finished" in text for text in page_messages(response))
    assert DirectorySyncRun.objects.filter(ok=True).exists()
    assert User.objects.filter(directory_profile__isnull=False).exists()
    assert AuditEvent.objects.filter(action=AuditAction.DIRECTORY_SYNC_REQUESTED).exists()


def test_sync_directory_now_shows_the_error_when_the_directory_is_down(
    settings: Any, private_ldap_server: LdapServer
) -> None:
    settings.ENCLAVE_LDAP = ldap_settings(private_ldap_server)
    private_ldap_server.stop()

    response = owner_client().post(reverse(SYNC_NOW), follow=True)

    assert any("Directory sync failed" in text for text in page_messages(response))
    assert not DirectorySyncRun.objects.filter(ok=True).exists()


def test_sync_directory_now_needs_a_post_from_an_administrator() -> None:
    assert owner_client().get(reverse(SYNC_NOW)).status_code == 405
    member = Client()
    member.force_login(UserFactory())
    assert member.post(reverse(SYNC_NOW)).status_code == 302  # to the admin log-in
    assert not DirectorySyncRun.objects.exists()


def change_owner(client: Client, channel_id: int, username: str) -> Any:
    return client.post(
        reverse("admin:chat_channel_changelist"),
        {"action": "change_owner", "_selected_action": [channel_id], "new_owner": username},
        follow=True,
    )


def test_change_owner_makes_a_member_channel_admin_and_is_audited() -> None:
    channel = ChannelFactory(kind=ChannelKind.PRIVATE)
    carol = MembershipFactory(channel=channel, user=UserFactory(username="carol")).user

    change_owner(owner_client(), channel.pk, "carol")

    assert Membership.objects.get(channel=channel, user=carol).role == ChannelRole.ADMIN
    event = AuditEvent.objects.get(action=AuditAction.CHANNEL_OWNER_CHANGED)
    assert event.actor_label == "boss"
    assert event.metadata["owner"] == "carol"


def test_change_owner_adds_a_non_member_as_channel_admin() -> None:
    channel = ChannelFactory()
    dave = UserFactory(username="dave")

    change_owner(owner_client(), channel.pk, "dave")

    assert Membership.objects.get(channel=channel, user=dave).role == ChannelRole.ADMIN


def test_change_owner_refuses_guests_and_unknown_users() -> None:
    channel = ChannelFactory()
    UserFactory(username="gus", role=Role.GUEST)
    client = owner_client()

    refused_guest = change_owner(client, channel.pk, "gus")
    unknown = change_owner(client, channel.pk, "nobody")

    assert any("guest" in text for text in page_messages(refused_guest))
    assert any("username" in text for text in page_messages(unknown))
    assert not Membership.objects.filter(channel=channel, role=ChannelRole.ADMIN).exists()
