"""Organisation settings and announcement channels, over REST and WebSocket.

Each setting is a minimum role; the matrix runs every organisation role against every value.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async

from apps.accounts.audit import AuditAction
from apps.accounts.models import AuditEvent, MinimumRole, OrganizationSettings, Role, User
from apps.accounts.permissions import OrgAction, may_do, organization_settings
from apps.chat import services
from apps.chat.models import Channel, ChannelKind, ChannelRole, Membership
from tests.factories import ChannelFactory, MembershipFactory, UserFactory
from tests.ws import WsClient

ROLES = [Role.OWNER, Role.ADMIN, Role.MEMBER, Role.GUEST]
MINIMUMS = [MinimumRole.MEMBER, MinimumRole.ADMIN, MinimumRole.OWNER]
RANK = {Role.GUEST: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}

Connect = Callable[..., Awaitable[WsClient]]


def set_rule(field: str, minimum: str) -> None:
    OrganizationSettings.objects.update_or_create(pk=1, defaults={field: minimum})


def allowed(role: str, minimum: str) -> bool:
    return role != Role.GUEST and RANK[role] >= RANK[minimum]


def test_settings_row_is_created_with_permissive_defaults(db: Any) -> None:
    settings = organization_settings()

    assert settings.pk == 1
    assert settings.public_channel_creators == MinimumRole.MEMBER
    assert settings.bot_creators == MinimumRole.ADMIN


def test_guests_may_never_do_organisation_actions_whatever_the_settings(db: Any) -> None:
    guest = UserFactory(role=Role.GUEST)

    assert not any(may_do(user=guest, action=action) for action in OrgAction)


# --- REST matrix -------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("minimum", MINIMUMS)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("kind", "field"),
    [
        (ChannelKind.PUBLIC, "public_channel_creators"),
        (ChannelKind.PRIVATE, "private_channel_creators"),
    ],
)
def test_channel_creation_follows_the_setting_over_rest(
    client_for: Any, role: str, minimum: str, kind: str, field: str
) -> None:
    set_rule(field, minimum)
    actor = UserFactory(role=role)

    response = client_for(actor).post(
        "/api/v1/channels/", {"kind": kind, "name": f"c-{uuid.uuid4().hex[:8]}"}, format="json"
    )

    if allowed(role, minimum):
        assert response.status_code == 201, response.json()
    else:
        assert response.status_code == 403
        assert response.json()["code"] in (
            "guest_forbidden",
            f"cannot_create_{kind}_channel",
        )


@pytest.mark.django_db
@pytest.mark.parametrize("minimum", MINIMUMS)
@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.MEMBER])
def test_adding_people_to_a_channel_follows_the_setting_over_rest(
    client_for: Any, role: str, minimum: str
) -> None:
    set_rule("channel_inviters", minimum)
    actor = UserFactory(role=role)
    channel = ChannelFactory(kind=ChannelKind.PUBLIC)
    MembershipFactory(channel=channel, user=actor, role=ChannelRole.ADMIN)
    invitee = UserFactory()

    response = client_for(actor).post(
        f"/api/v1/channels/{channel.pk}/members/", {"user_ids": [invitee.pk]}, format="json"
    )

    if allowed(role, minimum):
        assert response.status_code == 204
        assert Membership.objects.filter(channel=channel, user=invitee).exists()
    else:
        assert response.status_code == 403
        assert response.json()["code"] == "cannot_invite"
        assert not Membership.objects.filter(channel=channel, user=invitee).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("minimum", MINIMUMS)
@pytest.mark.parametrize("role", ROLES)
def test_me_says_which_organisation_actions_the_settings_allow(
    client_for: Any, role: str, minimum: str
) -> None:
    """The web client shows "Add people" (and the like) from this, so it matches the rule."""
    set_rule("channel_inviters", minimum)
    actor = UserFactory(role=role)

    me = client_for(actor).get("/api/v1/users/me/").json()

    assert me["permissions"]["invite"] is allowed(role, minimum)
    assert set(me["permissions"]) == {action.name.lower() for action in OrgAction}
    assert me["permissions"] == {
        action.name.lower(): may_do(user=actor, action=action) for action in OrgAction
    }


@pytest.mark.django_db
def test_creating_a_channel_with_other_members_counts_as_adding_people(client_for: Any) -> None:
    set_rule("channel_inviters", MinimumRole.ADMIN)
    member, other = UserFactory(role=Role.MEMBER), UserFactory()

    response = client_for(member).post(
        "/api/v1/channels/",
        {"kind": "public", "name": "with-friends", "member_ids": [other.pk]},
        format="json",
    )

    assert response.status_code == 403
    assert response.json()["code"] == "cannot_invite"
    assert not Channel.objects.filter(name="with-friends").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("minimum", MINIMUMS)
@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.MEMBER])
def test_mentioning_all_follows_the_setting_over_rest(
    client_for: Any, role: str, minimum: str
) -> None:
    set_rule("mention_all_senders", minimum)
    actor = UserFactory(role=role)
    channel = ChannelFactory(kind=ChannelKind.PUBLIC)
    MembershipFactory(channel=channel, user=actor)

    response = client_for(actor).post(
        f"/api/v1/channels/{channel.pk}/messages/",
        {"body": "hello @all", "client_msg_id": str(uuid.uuid4())},
        format="json",
    )

    if allowed(role, minimum):
        assert response.status_code == 201
    else:
        assert response.status_code == 403
        assert response.json()["code"] == "cannot_mention_all"


@pytest.mark.django_db
def test_plain_messages_are_not_affected_by_the_mention_all_setting(client_for: Any) -> None:
    set_rule("mention_all_senders", MinimumRole.OWNER)
    actor = UserFactory(role=Role.MEMBER)
    channel = ChannelFactory(kind=ChannelKind.PUBLIC)
    MembershipFactory(channel=channel, user=actor)

    response = client_for(actor).post(
        f"/api/v1/channels/{channel.pk}/messages/",
        {"body": "hello all", "client_msg_id": str(uuid.uuid4())},
        format="json",
    )

    assert response.status_code == 201


@pytest.mark.django_db
def test_editing_a_message_to_add_all_is_refused_without_the_right(client_for: Any) -> None:
    actor = UserFactory(role=Role.MEMBER)
    channel = ChannelFactory(kind=ChannelKind.PUBLIC)
    MembershipFactory(channel=channel, user=actor)
    message = services.message_send(
        sender=actor, channel_id=channel.pk, body="hi", client_msg_id=uuid.uuid4()
    ).message
    set_rule("mention_all_senders", MinimumRole.ADMIN)

    response = client_for(actor).patch(
        f"/api/v1/messages/{message.pk}/", {"body": "hi @everyone"}, format="json"
    )

    assert response.status_code == 403
    assert response.json()["code"] == "cannot_mention_all"


# --- announcement channels -----------------------------------------------------------------------


def announcement_channel(admin: User, member: User) -> Channel:
    channel = ChannelFactory(kind=ChannelKind.PUBLIC, is_announcement=True)
    MembershipFactory(channel=channel, user=admin, role=ChannelRole.ADMIN)
    MembershipFactory(channel=channel, user=member, role=ChannelRole.MEMBER)
    return channel


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("channel_role", "status"), [(ChannelRole.ADMIN, 201), (ChannelRole.MEMBER, 403)]
)
def test_only_channel_admins_post_in_announcement_channels_over_rest(
    client_for: Any, channel_role: str, status: int
) -> None:
    admin, member = UserFactory(), UserFactory()
    channel = announcement_channel(admin, member)
    actor = admin if channel_role == ChannelRole.ADMIN else member

    response = client_for(actor).post(
        f"/api/v1/channels/{channel.pk}/messages/",
        {"body": "news", "client_msg_id": str(uuid.uuid4())},
        format="json",
    )

    assert response.status_code == status
    if status == 403:
        assert response.json()["code"] == "announcement_channel"


@pytest.mark.django_db
def test_an_org_admin_who_is_not_channel_admin_cannot_post_announcements(
    client_for: Any,
) -> None:
    org_admin = UserFactory(role=Role.ADMIN)
    channel = announcement_channel(UserFactory(), org_admin)

    response = client_for(org_admin).post(
        f"/api/v1/channels/{channel.pk}/messages/",
        {"body": "news", "client_msg_id": str(uuid.uuid4())},
        format="json",
    )

    assert response.status_code == 403


@pytest.mark.django_db
def test_members_still_react_to_announcements(client_for: Any) -> None:
    admin, member = UserFactory(), UserFactory()
    channel = announcement_channel(admin, member)
    message = services.message_send(
        sender=admin, channel_id=channel.pk, body="news", client_msg_id=uuid.uuid4()
    ).message

    response = client_for(member).post(
        f"/api/v1/messages/{message.pk}/reactions/", {"emoji": "👍"}, format="json"
    )

    assert response.status_code in (200, 201, 204)


@pytest.mark.django_db
def test_channel_admin_turns_announcement_mode_on_and_it_is_audited(client_for: Any) -> None:
    admin = UserFactory()
    channel = ChannelFactory(kind=ChannelKind.PUBLIC)
    MembershipFactory(channel=channel, user=admin, role=ChannelRole.ADMIN)

    response = client_for(admin).patch(
        f"/api/v1/channels/{channel.pk}/", {"is_announcement": True}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["is_announcement"] is True
    channel.refresh_from_db()
    assert channel.is_announcement
    event = AuditEvent.objects.get(action=AuditAction.CHANNEL_PRIVACY_CHANGED)
    assert event.actor_id == admin.pk


@pytest.mark.django_db
def test_channel_member_cannot_turn_announcement_mode_on(client_for: Any) -> None:
    member = UserFactory()
    channel = ChannelFactory(kind=ChannelKind.PUBLIC)
    MembershipFactory(channel=channel, user=member)

    response = client_for(member).patch(
        f"/api/v1/channels/{channel.pk}/", {"is_announcement": True}, format="json"
    )

    assert response.status_code == 403
    channel.refresh_from_db()
    assert not channel.is_announcement


@pytest.mark.django_db
def test_announcement_channel_can_be_created_over_rest(client_for: Any) -> None:
    response = client_for(UserFactory()).post(
        "/api/v1/channels/",
        {"kind": "public", "name": "news", "is_announcement": True},
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["is_announcement"] is True


# --- WebSocket -----------------------------------------------------------------------------------


def send_frame(channel: Channel, body: str) -> dict[str, Any]:
    return {
        "type": "message.send",
        "channel_id": channel.pk,
        "body": body,
        "client_msg_id": str(uuid.uuid4()),
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("role", "expected"), [(Role.ADMIN, "ack"), (Role.MEMBER, "error")])
async def test_mentioning_all_follows_the_setting_over_websocket(
    ws_connect: Connect, role: str, expected: str
) -> None:
    def world() -> tuple[User, Channel]:
        set_rule("mention_all_senders", MinimumRole.ADMIN)
        actor = UserFactory(role=role)
        channel = ChannelFactory(kind=ChannelKind.PUBLIC)
        MembershipFactory(channel=channel, user=actor)
        return actor, channel

    actor, channel = await database_sync_to_async(world)()
    client = await ws_connect(actor)

    reply = await client.ask(send_frame(channel, "everyone look @all"))

    assert reply["type"] == expected
    if expected == "error":
        assert reply["code"] == "cannot_mention_all"
        await client.assert_open()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("channel_role", "expected"), [(ChannelRole.ADMIN, "ack"), (ChannelRole.MEMBER, "error")]
)
async def test_only_channel_admins_post_in_announcement_channels_over_websocket(
    ws_connect: Connect, channel_role: str, expected: str
) -> None:
    def world() -> tuple[User, Channel]:
        admin, member = UserFactory(), UserFactory()
        channel = announcement_channel(admin, member)
        return (admin if channel_role == ChannelRole.ADMIN else member), channel

    actor, channel = await database_sync_to_async(world)()
    client = await ws_connect(actor)

    reply = await client.ask(send_frame(channel, "news"))

    assert reply["type"] == expected
    if expected == "error":
        assert reply["code"] == "announcement_channel"


@pytest.mark.django_db
def test_owner_changes_a_rule_in_the_admin_and_it_is_audited(owner_admin: Any) -> None:
    from tests.conftest import ORGANIZATION_SETTINGS_FORM, ORGANIZATION_SETTINGS_URL

    form = {**ORGANIZATION_SETTINGS_FORM, "public_channel_creators": "admin"}

    response = owner_admin.post(ORGANIZATION_SETTINGS_URL, form)

    assert response.status_code == 302
    assert organization_settings().public_channel_creators == MinimumRole.ADMIN
    event = AuditEvent.objects.get(action=AuditAction.ORG_SETTINGS_CHANGED)
    assert event.metadata == {"public_channel_creators": {"from": "member", "to": "admin"}}
