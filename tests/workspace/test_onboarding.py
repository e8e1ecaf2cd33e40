"""Default channels and the first-run welcome: nobody lands in an empty workspace."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from apps.accounts import invitations, signup
from apps.accounts.models import OrganizationSettings, Role, User
from apps.chat import services as chat_services
from apps.chat.models import Channel, ChannelKind, Membership, Message
from apps.core.errors import Forbidden, InvalidInput
from apps.workspace import services
from apps.workspace.models import DefaultChannel, Onboarding
from tests.accounts.test_invitations import GOOD_PASSWORD, accept, link_in
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def channel_names(user: User) -> set[str]:
    return set(
        Membership.objects.filter(user=user, channel__kind__in=["public", "private"]).values_list(
            "channel__name", flat=True
        )
    )


def welcome_of(user: User) -> Message:
    onboarding = Onboarding.objects.get(user=user)
    assert onboarding.welcome_channel is not None
    return Message.objects.get(channel=onboarding.welcome_channel)


def invite_and_accept(actor: User, email: str, channel_ids: list[int] | None = None) -> User:
    invitations.invitation_create(actor=actor, email=email, channel_ids=channel_ids or [])
    _client, response = accept(link_in(mail.outbox[-1].body), username=email.split("@")[0])
    assert response.status_code == 302
    return User.objects.get(email=email)


def test_invited_person_joins_general_created_on_first_use_and_gets_a_welcome() -> None:
    admin = UserFactory(role=Role.ADMIN)

    newbie = invite_and_accept(admin, "newbie@example.com")

    general = Channel.objects.get(name="general")
    assert general.kind == ChannelKind.PUBLIC
    assert channel_names(newbie) == {"general"}
    welcome = welcome_of(newbie)
    assert welcome.sender.is_bot
    assert "Welcome to Enclave" in welcome.body
    assert "#general" in welcome.body
    membership = Membership.objects.get(user=newbie, channel=welcome.channel)
    assert membership.last_read_seq < welcome.seq  # the welcome is unread


def test_existing_general_channel_becomes_the_default_instead_of_a_new_one() -> None:
    owner = UserFactory(role=Role.OWNER)
    existing = chat_services.channel_create(creator=owner, kind="public", name="General")

    newbie = invite_and_accept(owner, "a@example.com")

    assert Channel.objects.filter(name__iexact="general").count() == 1
    assert Membership.objects.filter(user=newbie, channel=existing).exists()


def test_channels_chosen_on_the_invitation_are_joined_too() -> None:
    admin = UserFactory(role=Role.ADMIN)
    team = chat_services.channel_create(creator=admin, kind="private", name="team")

    newbie = invite_and_accept(admin, "b@example.com", channel_ids=[team.pk])

    assert channel_names(newbie) == {"general", "team"}


def test_inviter_cannot_choose_a_private_channel_they_are_not_in() -> None:
    owner = UserFactory(role=Role.OWNER)
    admin = UserFactory(role=Role.ADMIN)
    secret = chat_services.channel_create(creator=owner, kind="private", name="secret")

    with pytest.raises(InvalidInput) as error:
        invitations.invitation_create(actor=admin, email="c@example.com", channel_ids=[secret.pk])

    assert error.value.code == "invalid_channels"
    assert error.value.details == {"channel_ids": [secret.pk]}
    assert mail.outbox == []


def test_invitation_channel_choices_are_the_channels_the_inviter_may_add_people_to() -> None:
    owner = UserFactory(role=Role.OWNER)
    admin = UserFactory(role=Role.ADMIN)
    chat_services.channel_create(creator=owner, kind="private", name="secret")
    chat_services.channel_create(creator=owner, kind="public", name="town")
    mine = chat_services.channel_create(creator=admin, kind="private", name="ops")
    archived = chat_services.channel_create(creator=owner, kind="public", name="old")
    chat_services.channel_set_archived(actor=owner, channel_id=archived.pk, archived=True)

    labels = [label for _pk, label in invitations.invitation_channel_choices(actor=admin)]

    assert labels == ["🔒 ops", "#town"]
    assert mine.pk in [pk for pk, _label in invitations.invitation_channel_choices(actor=admin)]


def test_signed_up_person_joins_the_default_channels() -> None:
    OrganizationSettings.objects.update_or_create(
        pk=1, defaults={"open_signup_enabled": True, "signup_allowed_domains": "example.com"}
    )

    user = signup.user_sign_up(
        email="d@example.com", username="dee", password=GOOD_PASSWORD, display_name="Dee"
    )

    assert channel_names(user) == {"general"}
    assert "Dee" in welcome_of(user).body


def test_user_added_in_the_admin_console_is_onboarded() -> None:
    owner = UserFactory(role=Role.OWNER, is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(owner)

    response = client.post(
        reverse("admin:accounts_user_add"),
        {
            "username": "fromadmin",
            "usable_password": "true",
            "password1": GOOD_PASSWORD,
            "password2": GOOD_PASSWORD,
            "directory_profile-TOTAL_FORMS": "0",
            "directory_profile-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.content[:2000]
    assert channel_names(User.objects.get(username="fromadmin")) == {"general"}


def test_guest_joins_only_the_channels_chosen_for_them() -> None:
    admin = UserFactory(role=Role.ADMIN)
    room = chat_services.channel_create(creator=admin, kind="private", name="room")
    invitations.invitation_create(
        actor=admin, email="g@example.com", role=Role.GUEST, channel_ids=[room.pk]
    )
    accept(link_in(mail.outbox[-1].body), username="guesty")

    assert channel_names(User.objects.get(username="guesty")) == {"room"}


def test_administrators_choose_the_default_channels_and_new_people_join_those() -> None:
    admin = UserFactory(role=Role.ADMIN)
    news = chat_services.channel_create(creator=admin, kind="public", name="news")

    services.default_channels_set(actor=admin, channel_ids=[news.pk])
    newbie = invite_and_accept(admin, "e@example.com")

    assert channel_names(newbie) == {"news"}
    assert not Channel.objects.filter(name="general").exists()


def test_no_default_channels_still_gives_a_welcome() -> None:
    admin = UserFactory(role=Role.ADMIN)
    services.default_channels_set(actor=admin, channel_ids=[])

    newbie = invite_and_accept(admin, "f@example.com")

    assert channel_names(newbie) == set()
    assert "Welcome to Enclave" in welcome_of(newbie).body


def test_members_cannot_set_default_channels() -> None:
    member = UserFactory(role=Role.MEMBER)

    with pytest.raises(Forbidden) as error:
        services.default_channels_set(actor=member, channel_ids=[])

    assert error.value.code == "not_org_admin"
    assert not DefaultChannel.objects.exists()


def test_direct_messages_cannot_be_default_channels() -> None:
    admin = UserFactory(role=Role.ADMIN)
    other = UserFactory()
    dm = chat_services.dm_open(user=admin, user_ids=[other.pk])

    with pytest.raises(InvalidInput) as error:
        services.default_channels_set(actor=admin, channel_ids=[dm.pk])

    assert error.value.code == "invalid_channels"


def test_onboarding_happens_once() -> None:
    admin = UserFactory(role=Role.ADMIN)
    newbie = invite_and_accept(admin, "h@example.com")

    again = services.user_onboard(user=newbie, source="invitation")

    assert again is None
    assert Message.objects.filter(channel=welcome_of(newbie).channel).count() == 1


def test_welcome_is_in_the_persons_language() -> None:
    user = UserFactory(language="zh-hans", display_name="张伟")

    services.user_onboard(user=user, source="directory")

    body = welcome_of(user).body
    assert "张伟" in body
    assert "Welcome" not in body


def test_administrators_welcome_message_replaces_the_built_in_one() -> None:
    settings = services.workspace_settings()
    settings.welcome_message = "Read the handbook first."
    settings.save()
    user = UserFactory()

    services.user_onboard(user=user, source="directory")

    assert welcome_of(user).body == "Read the handbook first."


def test_bots_are_not_onboarded() -> None:
    bot = UserFactory(is_bot=True)

    assert services.user_onboard(user=bot, source="admin") is None
    assert not Membership.objects.filter(user=bot).exists()


def test_rest_invitation_with_channels() -> None:
    admin = UserFactory(role=Role.ADMIN)
    team = chat_services.channel_create(creator=admin, kind="public", name="team")
    client = Client()
    client.force_login(admin)

    choices = client.get(reverse("accounts_api:invitation-channels")).json()
    created = client.post(
        reverse("accounts_api:invitations"),
        {"email": "i@example.com", "channel_ids": [team.pk]},
        content_type="application/json",
    )

    assert {"id": team.pk, "label": "#team"} in choices
    assert created.status_code == 201
    assert created.json()["channel_ids"] == [team.pk]


def test_rest_invitation_with_a_refused_channel_is_400() -> None:
    owner = UserFactory(role=Role.OWNER)
    admin = UserFactory(role=Role.ADMIN)
    secret = chat_services.channel_create(creator=owner, kind="private", name="secret")
    client = Client()
    client.force_login(admin)

    response = client.post(
        reverse("accounts_api:invitations"),
        {"email": "j@example.com", "channel_ids": [secret.pk]},
        content_type="application/json",
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_channels"
