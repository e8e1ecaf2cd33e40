"""The chat write layer (apps/chat/services/): one behaviour per test, real services."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from django.db import transaction

from apps.accounts.models import Role, User
from apps.chat import services
from apps.chat.models import (
    Channel,
    ChannelKind,
    ChannelRole,
    Membership,
    Mention,
    Message,
    Reaction,
)
from apps.chat.presence import AWAY, OFFLINE, ONLINE
from tests.chat.support import raises_domain_error, send

pytestmark = pytest.mark.django_db

MakeUser = Callable[..., User]


@pytest.fixture
def secret(alice: User, bob: User) -> Channel:
    """A private channel: alice is its channel admin, bob a plain member."""
    return services.channel_create(
        creator=alice, kind=ChannelKind.PRIVATE, name="secret", member_ids=[bob.pk]
    )


def membership(channel: Channel, user: User) -> Membership:
    return Membership.objects.get(channel=channel, user=user)


# --- channel_create ------------------------------------------------------------------------------


def test_channel_create_makes_creator_channel_admin(alice: User) -> None:
    channel = services.channel_create(creator=alice, kind=ChannelKind.PUBLIC, name="ops")

    assert membership(channel, alice).role == ChannelRole.ADMIN


def test_channel_create_adds_requested_users_as_plain_members(alice: User, bob: User) -> None:
    channel = services.channel_create(
        creator=alice, kind=ChannelKind.PRIVATE, name="ops", member_ids=[bob.pk, alice.pk]
    )

    roles = dict(channel.memberships.values_list("user_id", "role"))
    assert roles == {alice.pk: ChannelRole.ADMIN, bob.pk: ChannelRole.MEMBER}


def test_channel_create_collapses_whitespace_in_name(alice: User) -> None:
    channel = services.channel_create(creator=alice, kind=ChannelKind.PUBLIC, name="  q3   plan ")

    assert channel.name == "q3 plan"


def test_channel_create_refuses_name_taken_in_other_case(alice: User, general: Channel) -> None:
    with raises_domain_error("name_taken", 409):
        services.channel_create(creator=alice, kind=ChannelKind.PRIVATE, name="GENERAL")


def test_channel_create_refuses_blank_name(alice: User) -> None:
    with raises_domain_error("name_required", 400):
        services.channel_create(creator=alice, kind=ChannelKind.PUBLIC, name="   ")


def test_channel_create_refuses_overlong_name(alice: User) -> None:
    with raises_domain_error("name_too_long", 400):
        services.channel_create(creator=alice, kind=ChannelKind.PUBLIC, name="x" * 81)


def test_channel_create_refuses_direct_kind(alice: User) -> None:
    with raises_domain_error("kind", 400):
        services.channel_create(creator=alice, kind=ChannelKind.DIRECT, name="dm")


def test_guest_cannot_create_channel(make_user: MakeUser) -> None:
    guest = make_user(Role.GUEST)

    with raises_domain_error("guest_forbidden", 403):
        services.channel_create(creator=guest, kind=ChannelKind.PUBLIC, name="mine")


def test_channel_create_with_inactive_member_creates_nothing(
    alice: User, make_user: MakeUser
) -> None:
    gone = make_user(is_active=False)

    with raises_domain_error("unknown_user"):
        services.channel_create(
            creator=alice, kind=ChannelKind.PUBLIC, name="ops", member_ids=[gone.pk]
        )
    assert not Channel.objects.filter(name="ops").exists()


# --- channel_update / archive -----------------------------------------------------------------


def test_channel_admin_renames_channel(alice: User, general: Channel) -> None:
    services.channel_update(actor=alice, channel_id=general.pk, name="town-square")

    general.refresh_from_db()
    assert general.name == "town-square"


def test_channel_admin_sets_topic_and_description(alice: User, general: Channel) -> None:
    services.channel_update(
        actor=alice, channel_id=general.pk, topic=" Launch day ", description="All hands"
    )

    general.refresh_from_db()
    assert (general.topic, general.description) == ("Launch day", "All hands")


def test_rename_to_taken_name_conflicts(alice: User, general: Channel, secret: Channel) -> None:
    with raises_domain_error("name_taken", 409):
        services.channel_update(actor=alice, channel_id=general.pk, name="Secret")


def test_rename_to_own_name_in_other_case_is_allowed(alice: User, general: Channel) -> None:
    services.channel_update(actor=alice, channel_id=general.pk, name="General")

    general.refresh_from_db()
    assert general.name == "General"


def test_plain_member_cannot_rename_channel(bob: User, general: Channel) -> None:
    with raises_domain_error("not_channel_admin", 403):
        services.channel_update(actor=bob, channel_id=general.pk, name="mine")


def test_org_admin_renames_public_channel_without_joining(
    make_user: MakeUser, general: Channel
) -> None:
    admin = make_user(Role.ADMIN)

    services.channel_update(actor=admin, channel_id=general.pk, topic="Set by IT")

    general.refresh_from_db()
    assert general.topic == "Set by IT"


def test_org_owner_cannot_see_private_channel_without_membership(
    make_user: MakeUser, secret: Channel
) -> None:
    owner = make_user(Role.OWNER)

    with raises_domain_error("channel_not_found", 404):
        services.channel_update(actor=owner, channel_id=secret.pk, topic="peek")


def test_org_admin_who_is_a_member_manages_private_channel(
    alice: User, make_user: MakeUser, secret: Channel
) -> None:
    admin = make_user(Role.ADMIN)
    services.channel_invite(actor=alice, channel_id=secret.pk, user_ids=[admin.pk])

    services.channel_update(actor=admin, channel_id=secret.pk, topic="audited")

    secret.refresh_from_db()
    assert secret.topic == "audited"


def test_channel_admin_archives_channel(alice: User, general: Channel) -> None:
    services.channel_set_archived(actor=alice, channel_id=general.pk, archived=True)

    general.refresh_from_db()
    assert general.is_archived


def test_channel_admin_unarchives_channel(alice: User, general: Channel) -> None:
    services.channel_set_archived(actor=alice, channel_id=general.pk, archived=True)
    services.channel_set_archived(actor=alice, channel_id=general.pk, archived=False)

    general.refresh_from_db()
    assert not general.is_archived


def test_plain_member_cannot_archive_channel(bob: User, general: Channel) -> None:
    with raises_domain_error("not_channel_admin", 403):
        services.channel_set_archived(actor=bob, channel_id=general.pk, archived=True)


def test_archived_channel_cannot_be_renamed(alice: User, general: Channel) -> None:
    services.channel_set_archived(actor=alice, channel_id=general.pk, archived=True)

    with raises_domain_error("channel_archived", 403):
        services.channel_update(actor=alice, channel_id=general.pk, name="renamed")


def test_direct_channel_cannot_be_archived(alice: User, bob: User) -> None:
    dm = services.dm_open(user=alice, user_ids=[bob.pk])

    with raises_domain_error("direct_channel", 403):
        services.channel_set_archived(actor=alice, channel_id=dm.pk, archived=True)


# --- join / leave -------------------------------------------------------------------------------


def test_join_public_channel_starts_read_position_at_the_end(
    bob: User, carol: User, general: Channel
) -> None:
    send(bob, general)
    send(bob, general)

    joined = services.channel_join(user=carol, channel_id=general.pk)

    assert joined.role == ChannelRole.MEMBER
    assert joined.last_read_seq == 2


def test_join_twice_keeps_one_membership(carol: User, general: Channel) -> None:
    services.channel_join(user=carol, channel_id=general.pk)
    services.channel_join(user=carol, channel_id=general.pk)

    assert Membership.objects.filter(channel=general, user=carol).count() == 1


def test_guest_cannot_join_public_channel(make_user: MakeUser, general: Channel) -> None:
    guest = make_user(Role.GUEST)

    with raises_domain_error("channel_not_found", 404):
        services.channel_join(user=guest, channel_id=general.pk)


def test_non_member_cannot_join_private_channel(carol: User, secret: Channel) -> None:
    with raises_domain_error("channel_not_found", 404):
        services.channel_join(user=carol, channel_id=secret.pk)


def test_cannot_join_archived_channel(alice: User, carol: User, general: Channel) -> None:
    services.channel_set_archived(actor=alice, channel_id=general.pk, archived=True)

    with raises_domain_error("channel_archived", 403):
        services.channel_join(user=carol, channel_id=general.pk)


def test_member_leaves_channel(bob: User, general: Channel) -> None:
    services.channel_leave(user=bob, channel_id=general.pk)

    assert not Membership.objects.filter(channel=general, user=bob).exists()


def test_leave_without_membership_is_refused(carol: User, general: Channel) -> None:
    with raises_domain_error("not_member", 403):
        services.channel_leave(user=carol, channel_id=general.pk)


def test_direct_message_cannot_be_left(alice: User, bob: User) -> None:
    dm = services.dm_open(user=alice, user_ids=[bob.pk])

    with raises_domain_error("direct_channel", 403):
        services.channel_leave(user=alice, channel_id=dm.pk)


# --- invite / remove / roles ---------------------------------------------------------------------


def test_member_invites_to_public_channel(bob: User, carol: User, general: Channel) -> None:
    services.channel_invite(actor=bob, channel_id=general.pk, user_ids=[carol.pk])

    assert membership(general, carol).role == ChannelRole.MEMBER


def test_plain_member_cannot_invite_to_private_channel(
    bob: User, carol: User, secret: Channel
) -> None:
    with raises_domain_error("cannot_invite", 403):
        services.channel_invite(actor=bob, channel_id=secret.pk, user_ids=[carol.pk])


def test_channel_admin_invites_to_private_channel(
    alice: User, carol: User, secret: Channel
) -> None:
    services.channel_invite(actor=alice, channel_id=secret.pk, user_ids=[carol.pk])

    assert Membership.objects.filter(channel=secret, user=carol).exists()


def test_inviting_existing_member_keeps_their_role(alice: User, general: Channel) -> None:
    added = services.channel_invite(actor=alice, channel_id=general.pk, user_ids=[alice.pk])

    assert added == []
    assert membership(general, alice).role == ChannelRole.ADMIN


def test_inviting_inactive_user_is_refused(
    alice: User, make_user: MakeUser, general: Channel
) -> None:
    gone = make_user(is_active=False)

    with raises_domain_error("unknown_user", 400):
        services.channel_invite(actor=alice, channel_id=general.pk, user_ids=[gone.pk])


def test_inviting_nobody_is_refused(alice: User, general: Channel) -> None:
    with raises_domain_error("no_users", 400):
        services.channel_invite(actor=alice, channel_id=general.pk, user_ids=[])


def test_cannot_invite_into_archived_channel(alice: User, carol: User, general: Channel) -> None:
    services.channel_set_archived(actor=alice, channel_id=general.pk, archived=True)

    with raises_domain_error("channel_archived", 403):
        services.channel_invite(actor=alice, channel_id=general.pk, user_ids=[carol.pk])


def test_channel_admin_removes_member(alice: User, bob: User, secret: Channel) -> None:
    services.channel_remove_member(actor=alice, channel_id=secret.pk, user_id=bob.pk)

    assert not Membership.objects.filter(channel=secret, user=bob).exists()


def test_plain_member_cannot_remove_member(alice: User, bob: User, general: Channel) -> None:
    with raises_domain_error("not_channel_admin", 403):
        services.channel_remove_member(actor=bob, channel_id=general.pk, user_id=alice.pk)


def test_removing_oneself_is_leaving(bob: User, general: Channel) -> None:
    services.channel_remove_member(actor=bob, channel_id=general.pk, user_id=bob.pk)

    assert not Membership.objects.filter(channel=general, user=bob).exists()


def test_removing_a_non_member_is_not_found(alice: User, carol: User, general: Channel) -> None:
    with raises_domain_error("member_not_found", 404):
        services.channel_remove_member(actor=alice, channel_id=general.pk, user_id=carol.pk)


def test_channel_admin_promotes_member(alice: User, bob: User, general: Channel) -> None:
    services.membership_set_role(
        actor=alice, channel_id=general.pk, user_id=bob.pk, role=ChannelRole.ADMIN
    )

    assert membership(general, bob).role == ChannelRole.ADMIN


def test_promoted_member_can_manage_channel(alice: User, bob: User, general: Channel) -> None:
    services.membership_set_role(
        actor=alice, channel_id=general.pk, user_id=bob.pk, role=ChannelRole.ADMIN
    )

    services.channel_update(actor=bob, channel_id=general.pk, topic="bob's now")


def test_set_role_refuses_unknown_role(alice: User, bob: User, general: Channel) -> None:
    with raises_domain_error("invalid_role", 400):
        services.membership_set_role(
            actor=alice, channel_id=general.pk, user_id=bob.pk, role="owner"
        )


def test_plain_member_cannot_change_roles(alice: User, bob: User, general: Channel) -> None:
    with raises_domain_error("not_channel_admin", 403):
        services.membership_set_role(
            actor=bob, channel_id=general.pk, user_id=bob.pk, role=ChannelRole.ADMIN
        )


def test_set_role_of_non_member_is_not_found(alice: User, carol: User, general: Channel) -> None:
    with raises_domain_error("member_not_found", 404):
        services.membership_set_role(
            actor=alice, channel_id=general.pk, user_id=carol.pk, role=ChannelRole.ADMIN
        )


# --- membership settings -------------------------------------------------------------------------


def test_member_mutes_channel(bob: User, general: Channel) -> None:
    services.membership_update_settings(user=bob, channel_id=general.pk, is_muted=True)

    assert membership(general, bob).is_muted


def test_member_sets_notification_level(bob: User, general: Channel) -> None:
    services.membership_update_settings(
        user=bob, channel_id=general.pk, notification_level="mentions"
    )

    assert membership(general, bob).notification_level == "mentions"


def test_settings_refuse_unknown_notification_level(bob: User, general: Channel) -> None:
    with raises_domain_error("invalid_level", 400):
        services.membership_update_settings(
            user=bob, channel_id=general.pk, notification_level="loud"
        )


def test_non_member_cannot_change_settings_of_public_channel(carol: User, general: Channel) -> None:
    with raises_domain_error("not_member", 403):
        services.membership_update_settings(user=carol, channel_id=general.pk, is_muted=True)


# --- direct messages ---------------------------------------------------------------------------


def test_dm_open_twice_returns_the_same_channel(alice: User, bob: User) -> None:
    first = services.dm_open(user=alice, user_ids=[bob.pk])
    second = services.dm_open(user=alice, user_ids=[bob.pk])

    assert first.pk == second.pk


def test_dm_open_is_independent_of_who_opens_it(alice: User, bob: User) -> None:
    from_alice = services.dm_open(user=alice, user_ids=[bob.pk])
    from_bob = services.dm_open(user=bob, user_ids=[alice.pk])

    assert from_alice.pk == from_bob.pk


def test_dm_has_exactly_both_people_as_members(alice: User, bob: User) -> None:
    dm = services.dm_open(user=alice, user_ids=[bob.pk])

    assert dm.kind == ChannelKind.DIRECT
    assert set(dm.memberships.values_list("user_id", flat=True)) == {alice.pk, bob.pk}


def test_group_dm_is_one_channel_per_member_set(alice: User, bob: User, carol: User) -> None:
    first = services.dm_open(user=alice, user_ids=[bob.pk, carol.pk])
    second = services.dm_open(user=carol, user_ids=[bob.pk, alice.pk])

    assert first.kind == ChannelKind.GROUP
    assert first.pk == second.pk


def test_group_dm_with_other_members_is_another_channel(
    alice: User, bob: User, carol: User, make_user: MakeUser
) -> None:
    dave = make_user()
    first = services.dm_open(user=alice, user_ids=[bob.pk, carol.pk])
    other = services.dm_open(user=alice, user_ids=[bob.pk, dave.pk])

    assert first.pk != other.pk


def test_self_dm_has_one_member(alice: User) -> None:
    dm = services.dm_open(user=alice, user_ids=[alice.pk])

    assert dm.kind == ChannelKind.DIRECT
    assert list(dm.memberships.values_list("user_id", flat=True)) == [alice.pk]


def test_self_dm_is_not_the_dm_with_someone_else(alice: User, bob: User) -> None:
    self_dm = services.dm_open(user=alice, user_ids=[])
    with_bob = services.dm_open(user=alice, user_ids=[bob.pk])

    assert self_dm.pk != with_bob.pk


def test_dm_with_inactive_user_is_refused(alice: User, make_user: MakeUser) -> None:
    gone = make_user(is_active=False)

    with raises_domain_error("unknown_user", 400):
        services.dm_open(user=alice, user_ids=[gone.pk])


def test_group_dm_over_the_size_limit_is_refused(alice: User, make_user: MakeUser) -> None:
    others = [make_user().pk for _ in range(services.MAX_GROUP_DM_MEMBERS)]

    with raises_domain_error("too_many_members", 400):
        services.dm_open(user=alice, user_ids=others)


# --- message_send ------------------------------------------------------------------------------


def test_send_assigns_consecutive_seq_per_channel(
    alice: User, general: Channel, secret: Channel
) -> None:
    first = send(alice, general)
    elsewhere = send(alice, secret)
    second = send(alice, general)

    assert (first.seq, second.seq, elsewhere.seq) == (1, 2, 1)
    general.refresh_from_db()
    assert general.last_seq == 2


def test_send_stores_rendered_html(alice: User, general: Channel) -> None:
    message = send(alice, general, "**bold**")

    assert message.html == "<p><strong>bold</strong></p>"


def test_send_twice_with_same_client_msg_id_stores_one_message(
    alice: User, general: Channel
) -> None:
    client_msg_id = uuid.uuid4()
    first = services.message_send(
        sender=alice, channel_id=general.pk, body="once", client_msg_id=client_msg_id
    )
    again = services.message_send(
        sender=alice, channel_id=general.pk, body="once", client_msg_id=str(client_msg_id)
    )

    assert (first.created, again.created) == (True, False)
    assert again.message.pk == first.message.pk
    assert Message.objects.filter(channel=general).count() == 1


def test_same_client_msg_id_from_two_senders_is_two_messages(
    alice: User, bob: User, general: Channel
) -> None:
    client_msg_id = uuid.uuid4()
    send(alice, general, client_msg_id=client_msg_id)
    send(bob, general, client_msg_id=client_msg_id)

    assert Message.objects.filter(channel=general).count() == 2


def test_reusing_client_msg_id_in_another_channel_conflicts(
    alice: User, general: Channel, secret: Channel
) -> None:
    client_msg_id = uuid.uuid4()
    send(alice, general, client_msg_id=client_msg_id)

    with raises_domain_error("client_msg_id_reused", 409):
        send(alice, secret, client_msg_id=client_msg_id)


def test_send_refuses_malformed_client_msg_id(alice: User, general: Channel) -> None:
    with raises_domain_error("invalid_client_msg_id", 400):
        send(alice, general, client_msg_id="not-a-uuid")


def test_send_refuses_blank_body(alice: User, general: Channel) -> None:
    with raises_domain_error("empty_message", 400):
        send(alice, general, " \n\t ")


def test_send_refuses_overlong_body(alice: User, general: Channel, settings) -> None:
    settings.ENCLAVE_MAX_MESSAGE_CHARS = 10

    with raises_domain_error("message_too_long", 400):
        send(alice, general, "x" * 11)


def test_send_refuses_nul_character(alice: User, general: Channel) -> None:
    with raises_domain_error("invalid_body", 400):
        send(alice, general, "a\x00b")


def test_sender_has_read_their_own_message(alice: User, general: Channel) -> None:
    message = send(alice, general)

    assert membership(general, alice).last_read_seq == message.seq


def test_non_member_cannot_post_in_public_channel(carol: User, general: Channel) -> None:
    with raises_domain_error("not_member", 403):
        send(carol, general)


def test_non_member_cannot_post_in_private_channel(carol: User, secret: Channel) -> None:
    with raises_domain_error("channel_not_found", 404):
        send(carol, secret)


def test_deactivated_member_cannot_post(bob: User, general: Channel) -> None:
    bob.is_active = False
    bob.save(update_fields=["is_active"])

    with raises_domain_error("account_deactivated", 403):
        send(bob, general)


def test_send_in_archived_channel_is_refused(alice: User, general: Channel) -> None:
    services.channel_set_archived(actor=alice, channel_id=general.pk, archived=True)

    with raises_domain_error("channel_archived", 403):
        send(alice, general)


def test_send_records_mentions_of_existing_users(
    alice: User, bob: User, carol: User, general: Channel
) -> None:
    message = send(alice, general, "@bob and @Carol, meet @nobody")

    assert set(Mention.objects.filter(message=message).values_list("user_id", flat=True)) == {
        bob.pk,
        carol.pk,
    }
    assert not message.mentions_everyone


def test_send_ignores_mentions_of_deactivated_users(
    alice: User, make_user: MakeUser, general: Channel
) -> None:
    make_user(username="gone", is_active=False)

    message = send(alice, general, "@gone are you there?")

    assert not Mention.objects.filter(message=message).exists()


@pytest.mark.parametrize("wildcard", ["@all", "@everyone", "@channel"])
def test_wildcard_mention_sets_mentions_everyone(
    alice: User, general: Channel, wildcard: str
) -> None:
    message = send(alice, general, f"{wildcard} standup now")

    assert message.mentions_everyone


def test_mention_inside_code_is_not_a_mention(alice: User, bob: User, general: Channel) -> None:
    message = send(alice, general, "`@bob` is a handle")

    assert not Mention.objects.filter(message=message).exists()


# --- threads ----------------------------------------------------------------------------------


def test_reply_joins_thread_and_counts_on_root(alice: User, bob: User, general: Channel) -> None:
    root = send(alice, general, "question")

    reply = send(bob, general, "answer", thread_root_id=root.pk)

    root.refresh_from_db()
    assert reply.thread_root_id == root.pk
    assert root.reply_count == 1
    assert root.last_reply_at == reply.created_at


def test_reply_to_a_reply_joins_the_root_thread(alice: User, bob: User, general: Channel) -> None:
    root = send(alice, general, "question")
    reply = send(bob, general, "answer", thread_root_id=root.pk)

    nested = send(alice, general, "thanks", thread_root_id=reply.pk)

    root.refresh_from_db()
    assert nested.thread_root_id == root.pk
    assert root.reply_count == 2


def test_reply_to_message_of_another_channel_is_not_found(
    alice: User, general: Channel, secret: Channel
) -> None:
    elsewhere = send(alice, secret, "hidden")

    with raises_domain_error("thread_not_found", 404):
        send(alice, general, "reply", thread_root_id=elsewhere.pk)


def test_reply_to_deleted_root_is_not_found(alice: User, general: Channel) -> None:
    root = send(alice, general, "question")
    services.message_delete(user=alice, message_id=root.pk)

    with raises_domain_error("thread_not_found", 404):
        send(alice, general, "reply", thread_root_id=root.pk)


def test_deleting_a_reply_decrements_reply_count(alice: User, bob: User, general: Channel) -> None:
    root = send(alice, general, "question")
    reply = send(bob, general, "answer", thread_root_id=root.pk)
    send(bob, general, "more", thread_root_id=root.pk)

    services.message_delete(user=bob, message_id=reply.pk)

    root.refresh_from_db()
    assert root.reply_count == 1


# --- message_edit ------------------------------------------------------------------------------


def test_author_edits_message(alice: User, general: Channel) -> None:
    message = send(alice, general, "frist")

    services.message_edit(user=alice, message_id=message.pk, body="*first*")

    message.refresh_from_db()
    assert (message.body, message.html) == ("*first*", "<p><em>first</em></p>")
    assert message.edited_at is not None


def test_edit_takes_next_channel_seq_as_version_and_keeps_seq(
    alice: User, general: Channel
) -> None:
    message = send(alice, general, "one")
    send(alice, general, "two")

    services.message_edit(user=alice, message_id=message.pk, body="one!")

    message.refresh_from_db()
    general.refresh_from_db()
    assert (message.seq, message.version, general.last_seq) == (1, 3, 3)


def test_edit_with_unchanged_body_changes_nothing(alice: User, general: Channel) -> None:
    message = send(alice, general, "same")

    services.message_edit(user=alice, message_id=message.pk, body="  same ")

    message.refresh_from_db()
    assert (message.version, message.edited_at) == (1, None)


def test_edit_reparses_mentions(alice: User, bob: User, carol: User, general: Channel) -> None:
    message = send(alice, general, "@bob look")

    services.message_edit(user=alice, message_id=message.pk, body="@carol look")

    assert list(Mention.objects.filter(message=message).values_list("user_id", flat=True)) == [
        carol.pk
    ]


def test_channel_admin_cannot_edit_others_message(alice: User, bob: User, general: Channel) -> None:
    message = send(bob, general, "mine")

    with raises_domain_error("not_author", 403):
        services.message_edit(user=alice, message_id=message.pk, body="yours")


def test_edit_of_deleted_message_is_not_found(alice: User, general: Channel) -> None:
    message = send(alice, general)
    services.message_delete(user=alice, message_id=message.pk)

    with raises_domain_error("message_deleted", 404):
        services.message_edit(user=alice, message_id=message.pk, body="back")


def test_edit_in_archived_channel_is_refused(alice: User, general: Channel) -> None:
    message = send(alice, general)
    services.channel_set_archived(actor=alice, channel_id=general.pk, archived=True)

    with raises_domain_error("channel_archived", 403):
        services.message_edit(user=alice, message_id=message.pk, body="changed")


def test_author_who_left_cannot_edit(bob: User, general: Channel) -> None:
    message = send(bob, general)
    services.channel_leave(user=bob, channel_id=general.pk)

    with raises_domain_error("not_member", 403):
        services.message_edit(user=bob, message_id=message.pk, body="changed")


# --- message_delete ------------------------------------------------------------------------------


def test_delete_leaves_tombstone_with_id_and_seq(alice: User, bob: User, general: Channel) -> None:
    message = send(alice, general, "@bob oops")
    services.reaction_add(user=bob, message_id=message.pk, emoji="👍")

    services.message_delete(user=alice, message_id=message.pk)

    tombstone = Message.objects.get(pk=message.pk)
    assert tombstone.seq == message.seq
    assert tombstone.deleted_at is not None
    assert (tombstone.body, tombstone.html) == ("", "")


def test_delete_removes_reactions_and_mentions(alice: User, bob: User, general: Channel) -> None:
    message = send(alice, general, "@bob oops")
    services.reaction_add(user=bob, message_id=message.pk, emoji="👍")

    services.message_delete(user=alice, message_id=message.pk)

    assert not Reaction.objects.filter(message_id=message.pk).exists()
    assert not Mention.objects.filter(message_id=message.pk).exists()


def test_delete_takes_next_channel_seq_as_version(alice: User, general: Channel) -> None:
    message = send(alice, general)

    services.message_delete(user=alice, message_id=message.pk)

    message.refresh_from_db()
    assert message.version == 2


def test_channel_admin_deletes_others_message(alice: User, bob: User, general: Channel) -> None:
    message = send(bob, general)

    services.message_delete(user=alice, message_id=message.pk)

    assert Message.objects.get(pk=message.pk).deleted_at is not None


def test_org_admin_deletes_message_in_public_channel_without_joining(
    bob: User, make_user: MakeUser, general: Channel
) -> None:
    admin = make_user(Role.ADMIN)
    message = send(bob, general)

    services.message_delete(user=admin, message_id=message.pk)

    assert Message.objects.get(pk=message.pk).deleted_at is not None


def test_org_admin_cannot_delete_in_private_channel_they_are_not_in(
    bob: User, make_user: MakeUser, secret: Channel
) -> None:
    admin = make_user(Role.ADMIN)
    message = send(bob, secret)

    with raises_domain_error("message_not_found", 404):
        services.message_delete(user=admin, message_id=message.pk)


def test_plain_member_cannot_delete_others_message(
    alice: User, bob: User, general: Channel
) -> None:
    message = send(alice, general)

    with raises_domain_error("not_author", 403):
        services.message_delete(user=bob, message_id=message.pk)


def test_deleting_twice_is_not_found(alice: User, general: Channel) -> None:
    message = send(alice, general)
    services.message_delete(user=alice, message_id=message.pk)

    with raises_domain_error("message_deleted", 404):
        services.message_delete(user=alice, message_id=message.pk)


def test_delete_in_archived_channel_is_refused(alice: User, general: Channel) -> None:
    message = send(alice, general)
    services.channel_set_archived(actor=alice, channel_id=general.pk, archived=True)

    with raises_domain_error("channel_archived", 403):
        services.message_delete(user=alice, message_id=message.pk)


# --- reactions ---------------------------------------------------------------------------------


def test_reaction_add_stores_reaction(alice: User, bob: User, general: Channel) -> None:
    message = send(alice, general)

    services.reaction_add(user=bob, message_id=message.pk, emoji="🎉")

    assert list(Reaction.objects.values_list("user_id", "emoji")) == [(bob.pk, "🎉")]


def test_reaction_add_twice_keeps_one_reaction(alice: User, bob: User, general: Channel) -> None:
    message = send(alice, general)
    services.reaction_add(user=bob, message_id=message.pk, emoji="🎉")

    services.reaction_add(user=bob, message_id=message.pk, emoji="🎉")

    assert Reaction.objects.filter(message=message).count() == 1


def test_repeated_reaction_does_not_take_a_seq(alice: User, bob: User, general: Channel) -> None:
    message = send(alice, general)
    services.reaction_add(user=bob, message_id=message.pk, emoji="🎉")

    services.reaction_add(user=bob, message_id=message.pk, emoji="🎉")

    general.refresh_from_db()
    assert general.last_seq == 2


def test_two_users_and_two_emoji_are_separate_reactions(
    alice: User, bob: User, general: Channel
) -> None:
    message = send(alice, general)
    services.reaction_add(user=bob, message_id=message.pk, emoji="🎉")
    services.reaction_add(user=alice, message_id=message.pk, emoji="🎉")
    services.reaction_add(user=bob, message_id=message.pk, emoji="👍")

    assert Reaction.objects.filter(message=message).count() == 3


def test_reaction_bumps_message_version(alice: User, bob: User, general: Channel) -> None:
    message = send(alice, general)

    services.reaction_add(user=bob, message_id=message.pk, emoji="🎉")

    message.refresh_from_db()
    assert (message.seq, message.version) == (1, 2)


def test_reaction_remove_deletes_own_reaction_only(
    alice: User, bob: User, general: Channel
) -> None:
    message = send(alice, general)
    services.reaction_add(user=bob, message_id=message.pk, emoji="🎉")
    services.reaction_add(user=alice, message_id=message.pk, emoji="🎉")

    services.reaction_remove(user=bob, message_id=message.pk, emoji="🎉")

    assert list(Reaction.objects.values_list("user_id", flat=True)) == [alice.pk]


def test_removing_absent_reaction_is_a_noop(alice: User, general: Channel) -> None:
    message = send(alice, general)

    services.reaction_remove(user=alice, message_id=message.pk, emoji="🎉")

    message.refresh_from_db()
    assert message.version == 1


def test_reaction_refuses_blank_emoji(alice: User, general: Channel) -> None:
    message = send(alice, general)

    with raises_domain_error("invalid_emoji", 400):
        services.reaction_add(user=alice, message_id=message.pk, emoji="  ")


def test_reaction_to_deleted_message_is_not_found(alice: User, general: Channel) -> None:
    message = send(alice, general)
    services.message_delete(user=alice, message_id=message.pk)

    with raises_domain_error("message_deleted", 404):
        services.reaction_add(user=alice, message_id=message.pk, emoji="👍")


def test_non_member_cannot_react_in_public_channel(
    alice: User, carol: User, general: Channel
) -> None:
    message = send(alice, general)

    with raises_domain_error("not_member", 403):
        services.reaction_add(user=carol, message_id=message.pk, emoji="👍")


def test_reaction_in_archived_channel_is_refused(alice: User, general: Channel) -> None:
    message = send(alice, general)
    services.channel_set_archived(actor=alice, channel_id=general.pk, archived=True)

    with raises_domain_error("channel_archived", 403):
        services.reaction_add(user=alice, message_id=message.pk, emoji="👍")


def test_reaction_removal_in_archived_channel_is_refused(alice: User, general: Channel) -> None:
    message = send(alice, general)
    services.reaction_add(user=alice, message_id=message.pk, emoji="👍")
    services.channel_set_archived(actor=alice, channel_id=general.pk, archived=True)

    with raises_domain_error("channel_archived", 403):
        services.reaction_remove(user=alice, message_id=message.pk, emoji="👍")


# --- read state --------------------------------------------------------------------------------


def test_read_mark_moves_read_position_forward(alice: User, bob: User, general: Channel) -> None:
    for _ in range(3):
        send(alice, general)

    assert services.read_mark(user=bob, channel_id=general.pk, seq=2) == 2
    assert membership(general, bob).last_read_seq == 2


def test_read_mark_never_moves_backward(alice: User, bob: User, general: Channel) -> None:
    for _ in range(3):
        send(alice, general)
    services.read_mark(user=bob, channel_id=general.pk, seq=3)

    assert services.read_mark(user=bob, channel_id=general.pk, seq=1) == 3
    assert membership(general, bob).last_read_seq == 3


def test_read_mark_is_clamped_to_the_channel_sequence(
    alice: User, bob: User, general: Channel
) -> None:
    send(alice, general)

    assert services.read_mark(user=bob, channel_id=general.pk, seq=10_000) == 1
    assert membership(general, bob).last_read_seq == 1


@pytest.mark.parametrize("seq", [-1, True, "3"])
def test_read_mark_refuses_non_integer_or_negative_seq(
    bob: User, general: Channel, seq: object
) -> None:
    with raises_domain_error("invalid_seq", 400):
        services.read_mark(user=bob, channel_id=general.pk, seq=seq)  # type: ignore[arg-type]


def test_non_member_cannot_mark_public_channel_read(carol: User, general: Channel) -> None:
    with raises_domain_error("not_member", 403):
        services.read_mark(user=carol, channel_id=general.pk, seq=0)


# --- typing ------------------------------------------------------------------------------------


def test_non_member_cannot_send_typing(carol: User, general: Channel) -> None:
    with raises_domain_error("not_member", 403):
        services.typing_notify(user=carol, channel_id=general.pk)


def test_typing_in_archived_channel_is_refused(alice: User, general: Channel) -> None:
    services.channel_set_archived(actor=alice, channel_id=general.pk, archived=True)

    with raises_domain_error("channel_archived", 403):
        services.typing_notify(user=alice, channel_id=general.pk)


# --- presence ----------------------------------------------------------------------------------


def test_one_online_tab_makes_user_online(alice: User) -> None:
    assert services.presence_update(user=alice, connection_id="tab-1", state=ONLINE) == ONLINE


def test_user_is_online_while_any_tab_is_online(alice: User) -> None:
    services.presence_update(user=alice, connection_id="tab-1", state=ONLINE)

    assert services.presence_update(user=alice, connection_id="tab-2", state=AWAY) == ONLINE


def test_user_is_away_when_every_tab_is_away(alice: User) -> None:
    services.presence_update(user=alice, connection_id="tab-1", state=ONLINE)
    services.presence_update(user=alice, connection_id="tab-2", state=AWAY)

    assert services.presence_update(user=alice, connection_id="tab-1", state=AWAY) == AWAY


def test_closing_one_of_two_tabs_keeps_user_online(alice: User) -> None:
    services.presence_update(user=alice, connection_id="tab-1", state=ONLINE)
    services.presence_update(user=alice, connection_id="tab-2", state=ONLINE)

    assert services.presence_disconnect(user=alice, connection_id="tab-1") == ONLINE


def test_closing_the_last_tab_makes_user_offline(alice: User) -> None:
    services.presence_update(user=alice, connection_id="tab-1", state=ONLINE)
    services.presence_update(user=alice, connection_id="tab-2", state=AWAY)
    services.presence_disconnect(user=alice, connection_id="tab-1")

    assert services.presence_disconnect(user=alice, connection_id="tab-2") == OFFLINE


def test_presence_refuses_unknown_state(alice: User) -> None:
    with raises_domain_error("invalid_presence", 400):
        services.presence_update(user=alice, connection_id="tab-1", state=OFFLINE)


# --- transactions ------------------------------------------------------------------------------


def test_send_inside_rolled_back_transaction_leaves_no_trace(alice: User, general: Channel) -> None:
    def send_then_fail() -> None:
        with transaction.atomic():
            send(alice, general)
            raise RuntimeError("abort")

    with pytest.raises(RuntimeError):
        send_then_fail()

    general.refresh_from_db()
    assert general.last_seq == 0
    assert not Message.objects.filter(channel=general).exists()


def test_guest_opens_dm_with_someone_sharing_a_channel(
    alice: User, make_user: MakeUser, secret: Channel
) -> None:
    guest = make_user(Role.GUEST)
    services.channel_invite(actor=alice, channel_id=secret.pk, user_ids=[guest.pk])

    dm = services.dm_open(user=guest, user_ids=[alice.pk])

    assert set(dm.memberships.values_list("user_id", flat=True)) == {alice.pk, guest.pk}


def test_guest_cannot_open_dm_with_someone_outside_their_channels(
    carol: User, make_user: MakeUser
) -> None:
    guest = make_user(Role.GUEST)

    with raises_domain_error("unknown_user", 400):
        services.dm_open(user=guest, user_ids=[carol.pk])
    assert not Channel.objects.filter(kind=ChannelKind.DIRECT).exists()


def test_guest_opens_self_dm_without_any_channel(make_user: MakeUser) -> None:
    guest = make_user(Role.GUEST)

    dm = services.dm_open(user=guest, user_ids=[])

    assert list(dm.memberships.values_list("user_id", flat=True)) == [guest.pk]
