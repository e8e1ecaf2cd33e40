"""The chat read layer (apps/chat/selectors.py): results, visibility and query counts."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from apps.accounts.models import Role, User
from apps.chat import events, selectors, services
from apps.chat.models import Channel, ChannelKind, Membership, Message, Reaction
from apps.chat.presence import ONLINE
from tests.api_matrix import clean_image_attachment
from tests.chat.support import pushed_payloads, raises_domain_error, send

pytestmark = pytest.mark.django_db

MakeUser = Callable[..., User]

# channel_list_for_user: one query for memberships, channels, unread, @all and named-mention
# counts (DM member lists come from the channel's key, no query).
CHANNEL_LIST_QUERIES = 1
# channel_history for a member: membership+channel, messages, then one query for the page's
# reactions, mentions and which messages have attachments (a fourth loads those, when any).
HISTORY_QUERIES = 3


def summary_of(user: User, channel: Channel) -> selectors.ChannelSummary:
    summaries = {s.channel.pk: s for s in selectors.channel_list_for_user(user=user)}
    return summaries[channel.pk]


# --- channel_list_for_user ---------------------------------------------------------------------


def test_channel_list_holds_only_the_users_channels(
    alice: User, bob: User, make_user: MakeUser, general: Channel
) -> None:
    services.channel_create(creator=alice, kind=ChannelKind.PUBLIC, name="not-bobs")
    dm = services.dm_open(user=alice, user_ids=[bob.pk])

    listed = [s.channel.pk for s in selectors.channel_list_for_user(user=bob)]

    assert listed == [general.pk, dm.pk]


def test_unread_count_counts_others_messages_after_read_position(
    alice: User, bob: User, general: Channel
) -> None:
    for _ in range(3):
        send(alice, general)
    services.read_mark(user=bob, channel_id=general.pk, seq=1)

    assert summary_of(bob, general).unread_count == 2


def test_own_messages_are_never_unread(alice: User, bob: User, general: Channel) -> None:
    send(alice, general)
    services.read_mark(user=alice, channel_id=general.pk, seq=0)

    assert summary_of(alice, general).unread_count == 0


def test_deleted_messages_are_not_unread(alice: User, bob: User, general: Channel) -> None:
    message = send(alice, general)
    send(alice, general)
    services.message_delete(user=alice, message_id=message.pk)

    assert summary_of(bob, general).unread_count == 1


def test_mention_count_counts_unread_direct_and_wildcard_mentions(
    alice: User, bob: User, general: Channel
) -> None:
    send(alice, general, "@bob look")
    send(alice, general, "@all look")
    send(alice, general, "@bob @all look")
    send(alice, general, "nobody")

    summary = summary_of(bob, general)
    assert (summary.unread_count, summary.mention_count) == (4, 3)


def test_read_mentions_are_not_counted(alice: User, bob: User, general: Channel) -> None:
    send(alice, general, "@bob look")
    services.read_mark(user=bob, channel_id=general.pk, seq=1)

    assert summary_of(bob, general).mention_count == 0


def test_mentions_of_someone_else_are_not_counted(
    alice: User, bob: User, make_user: MakeUser, general: Channel
) -> None:
    make_user(username="carol")
    send(alice, general, "@carol look")

    assert summary_of(bob, general).mention_count == 0


def test_deleted_and_own_mentions_are_not_counted(alice: User, bob: User, general: Channel) -> None:
    deleted = send(alice, general, "@bob look")
    services.message_delete(user=alice, message_id=deleted.pk)
    send(bob, general, "@bob @all note to self")

    assert summary_of(bob, general).mention_count == 0


def test_channel_list_loads_channels_and_memberships_as_the_orm_does(
    alice: User, bob: User, general: Channel
) -> None:
    send(alice, general, "hi")
    services.dm_open(user=alice, user_ids=[bob.pk])

    summaries = selectors.channel_list_for_user(user=bob)

    assert len(summaries) == 2
    for summary in summaries:
        channel = Channel.objects.get(pk=summary.channel.pk)
        membership = Membership.objects.get(pk=summary.membership.pk)
        assert events.channel_payload(summary.channel) == events.channel_payload(channel)
        assert [getattr(summary.membership, f.attname) for f in Membership._meta.fields] == [
            getattr(membership, f.attname) for f in Membership._meta.fields
        ]
        assert summary.channel.created_at.tzinfo is not None


def test_dm_summary_lists_its_members(alice: User, bob: User, general: Channel) -> None:
    dm = services.dm_open(user=alice, user_ids=[bob.pk])

    assert summary_of(bob, dm).member_ids == sorted([alice.pk, bob.pk])
    assert summary_of(bob, general).member_ids is None


def _busy_channels(user: User, other: User, count: int) -> None:
    """`count` channels with unread messages and mentions for `user`, plus one DM."""
    for index in range(count):
        channel = services.channel_create(
            creator=other, kind=ChannelKind.PUBLIC, name=f"busy-{index}", member_ids=[user.pk]
        )
        send(other, channel, f"@{user.username} ping")
        send(other, channel, "@all news")
    send(other, services.dm_open(user=other, user_ids=[user.pk]), "psst")


@pytest.mark.parametrize("channel_count", [2, 20])
def test_channel_list_query_count_does_not_grow_with_channels(
    alice: User, bob: User, channel_count: int, django_assert_num_queries
) -> None:
    _busy_channels(bob, alice, channel_count)

    with django_assert_num_queries(CHANNEL_LIST_QUERIES):
        summaries = selectors.channel_list_for_user(user=bob)

    named = [s for s in summaries if s.channel.kind == ChannelKind.PUBLIC]
    assert len(summaries) == channel_count + 1
    assert all((s.unread_count, s.mention_count) == (2, 2) for s in named)


# --- channel_history ---------------------------------------------------------------------------


def seqs(page: selectors.HistoryPage) -> list[int]:
    return [m.seq for m in page.messages]


@pytest.fixture
def ten_messages(alice: User, general: Channel) -> list[int]:
    return [send(alice, general, f"message {n}").pk for n in range(1, 11)]


def test_history_without_cursor_is_the_latest_page_oldest_first(
    bob: User, general: Channel, ten_messages: list[int]
) -> None:
    page = selectors.channel_history(user=bob, channel_id=general.pk, limit=3)

    assert seqs(page) == [8, 9, 10]
    assert (page.has_more_before, page.has_more_after, page.last_seq) == (True, False, 10)


def test_history_before_seq_pages_back(
    bob: User, general: Channel, ten_messages: list[int]
) -> None:
    page = selectors.channel_history(user=bob, channel_id=general.pk, before_seq=3, limit=5)

    assert seqs(page) == [1, 2]
    assert not page.has_more_before


def test_history_around_a_message_centres_on_it(
    bob: User, general: Channel, ten_messages: list[int]
) -> None:
    page = selectors.channel_history(
        user=bob, channel_id=general.pk, around_message_id=ten_messages[4], limit=4
    )

    assert seqs(page) == [3, 4, 5, 6]
    assert (page.has_more_before, page.has_more_after) == (True, True)


def test_history_after_seq_returns_changes_in_change_order(
    alice: User, bob: User, general: Channel, ten_messages: list[int]
) -> None:
    services.message_edit(user=alice, message_id=ten_messages[1], body="edited")
    services.reaction_add(user=bob, message_id=ten_messages[0], emoji="👍")

    page = selectors.channel_history(user=bob, channel_id=general.pk, after_seq=9)

    assert [m.pk for m in page.messages] == [ten_messages[9], ten_messages[1], ten_messages[0]]
    assert [m.version for m in page.messages] == [10, 11, 12]


def test_history_after_seq_reports_more_when_page_is_full(
    bob: User, general: Channel, ten_messages: list[int]
) -> None:
    page = selectors.channel_history(user=bob, channel_id=general.pk, after_seq=2, limit=3)

    assert seqs(page) == [3, 4, 5]
    assert page.has_more_after


def test_history_roots_only_leaves_out_replies(alice: User, bob: User, general: Channel) -> None:
    root = send(alice, general, "root")
    send(bob, general, "reply", thread_root_id=root.pk)
    send(alice, general, "another root")

    page = selectors.channel_history(user=bob, channel_id=general.pk, roots_only=True)

    assert seqs(page) == [1, 3]


@pytest.mark.parametrize("limit", [0, 201])
def test_history_refuses_limit_out_of_range(bob: User, general: Channel, limit: int) -> None:
    with raises_domain_error("invalid_limit", 400):
        selectors.channel_history(user=bob, channel_id=general.pk, limit=limit)


def test_history_refuses_two_cursors(bob: User, general: Channel) -> None:
    with raises_domain_error("invalid_cursor", 400):
        selectors.channel_history(user=bob, channel_id=general.pk, after_seq=1, before_seq=5)


def test_history_refuses_anchor_from_another_channel(
    alice: User, bob: User, general: Channel
) -> None:
    elsewhere = services.channel_create(creator=alice, kind=ChannelKind.PUBLIC, name="other")
    anchor = send(alice, elsewhere)

    with raises_domain_error("invalid_cursor", 400):
        selectors.channel_history(user=bob, channel_id=general.pk, around_message_id=anchor.pk)


def test_non_member_reads_public_history(
    alice: User, make_user: MakeUser, general: Channel
) -> None:
    send(alice, general)

    page = selectors.channel_history(user=make_user(), channel_id=general.pk)

    assert seqs(page) == [1]


def test_non_member_cannot_read_private_channel(alice: User, make_user: MakeUser) -> None:
    secret = services.channel_create(creator=alice, kind=ChannelKind.PRIVATE, name="secret")

    with raises_domain_error("channel_not_found", 404):
        selectors.channel_history(user=make_user(), channel_id=secret.pk)


def test_guest_cannot_read_public_channel_they_are_not_in(
    make_user: MakeUser, general: Channel
) -> None:
    with raises_domain_error("channel_not_found", 404):
        selectors.channel_history(user=make_user(Role.GUEST), channel_id=general.pk)


@pytest.mark.parametrize(("limit", "reactions_per_message"), [(5, 0), (5, 3), (40, 3)])
def test_history_query_count_is_independent_of_page_size_and_reactions(
    alice: User,
    bob: User,
    general: Channel,
    limit: int,
    reactions_per_message: int,
    django_assert_num_queries,
) -> None:
    messages = [send(alice, general, f"@bob number {n}") for n in range(limit)]
    # Reactions stored directly: this test is about reading them, not about reaction_add.
    Reaction.objects.bulk_create(
        Reaction(message=message, user=reactor, emoji=emoji)
        for message in messages
        for reactor, emoji in [(bob, "👍"), (alice, "🎉"), (bob, "❤️")][:reactions_per_message]
    )

    with django_assert_num_queries(HISTORY_QUERIES):
        page = selectors.channel_history(user=bob, channel_id=general.pk, limit=limit)
        payloads = selectors.payloads(page.messages)

    assert len(payloads) == limit
    assert all(len(p["reactions"]) == reactions_per_message for p in payloads)
    assert all(p["mentioned_user_ids"] == [bob.pk] for p in payloads)


def test_history_payloads_equal_the_pushed_payloads(
    alice: User, bob: User, general: Channel
) -> None:
    root = send(alice, general, "@bob @all root")
    services.reaction_add(user=bob, message_id=root.pk, emoji="👍")
    services.reaction_add(user=alice, message_id=root.pk, emoji="🎉")
    services.reaction_add(user=alice, message_id=root.pk, emoji="👍")
    send(bob, general, "a reply", thread_root_id=root.pk)
    edited = send(alice, general, "typo")
    services.message_edit(user=alice, message_id=edited.pk, body="fixed")
    services.message_delete(user=alice, message_id=send(alice, general, "oops").pk)
    services.message_send(
        sender=alice,
        channel_id=general.pk,
        body="chart",
        attachment_ids=[clean_image_attachment(alice, name="chart.png").pk],
    )
    pushed = pushed_payloads(general)

    page = selectors.channel_history(user=bob, channel_id=general.pk)

    assert selectors.payloads(page.messages) == pushed
    stored = Message.objects.select_related("sender").filter(channel=general).order_by("seq")
    assert selectors.payloads(list(stored)) == pushed


# --- threads, single messages --------------------------------------------------------------------


def test_thread_holds_root_and_replies_in_order(alice: User, bob: User, general: Channel) -> None:
    root = send(alice, general, "root")
    first = send(bob, general, "one", thread_root_id=root.pk)
    send(alice, general, "unrelated")
    second = send(alice, general, "two", thread_root_id=root.pk)

    thread_root, replies = selectors.thread_messages(user=bob, root_id=root.pk)

    assert thread_root.pk == root.pk
    assert [m.pk for m in replies] == [first.pk, second.pk]


def test_thread_opened_from_a_reply_is_the_whole_thread(
    alice: User, bob: User, general: Channel
) -> None:
    root = send(alice, general, "root")
    reply = send(bob, general, "one", thread_root_id=root.pk)

    thread_root, replies = selectors.thread_messages(user=bob, root_id=reply.pk)

    assert (thread_root.pk, [m.pk for m in replies]) == (root.pk, [reply.pk])


def test_message_of_private_channel_is_not_found_for_outsider(
    alice: User, make_user: MakeUser
) -> None:
    secret = services.channel_create(creator=alice, kind=ChannelKind.PRIVATE, name="secret")
    message = send(alice, secret)

    with raises_domain_error("message_not_found", 404):
        selectors.message_get(user=make_user(), message_id=message.pk)


# --- browse, members, directory, presence --------------------------------------------------------


def test_browse_lists_public_channels_with_member_counts(
    alice: User, bob: User, general: Channel
) -> None:
    services.channel_create(creator=alice, kind=ChannelKind.PRIVATE, name="secret")
    services.channel_create(creator=alice, kind=ChannelKind.PUBLIC, name="quiet")

    rows = {c.name: (c.member_count, c.is_member) for c in selectors.channel_browse(user=bob)}

    assert rows == {"general": (2, True), "quiet": (1, False)}


def test_guest_browses_no_channels(make_user: MakeUser, general: Channel) -> None:
    assert list(selectors.channel_browse(user=make_user(Role.GUEST))) == []


def test_channel_members_lists_members_with_users(alice: User, bob: User, general: Channel) -> None:
    members = selectors.channel_members(user=bob, channel_id=general.pk)

    assert sorted(m.user.username for m in members) == ["alice", "bob"]


def test_directory_leaves_out_deactivated_users(alice: User, make_user: MakeUser) -> None:
    make_user(username="gone", is_active=False)

    assert "gone" not in {u.username for u in selectors.user_directory(user=alice)}


def test_guest_directory_holds_only_people_sharing_a_channel(
    alice: User, bob: User, make_user: MakeUser
) -> None:
    guest = make_user(Role.GUEST, username="guest")
    services.channel_create(
        creator=alice, kind=ChannelKind.PRIVATE, name="partners", member_ids=[guest.pk]
    )

    visible = [u.username for u in selectors.user_directory(user=guest)]

    assert visible == ["alice", "guest"]


def test_guest_does_not_see_presence_of_strangers(
    alice: User, bob: User, make_user: MakeUser
) -> None:
    guest = make_user(Role.GUEST)
    services.channel_create(
        creator=alice, kind=ChannelKind.PRIVATE, name="partners", member_ids=[guest.pk]
    )
    services.presence_update(user=alice, connection_id="a", state=ONLINE)
    services.presence_update(user=bob, connection_id="b", state=ONLINE)

    assert selectors.presence_of(user=guest, user_ids=[alice.pk, bob.pk]) == {alice.pk: ONLINE}


def test_member_sees_presence_of_active_users_only(
    alice: User, bob: User, make_user: MakeUser
) -> None:
    gone = make_user(Role.MEMBER)
    gone.is_active = False
    gone.save(update_fields=["is_active"])
    services.presence_update(user=bob, connection_id="b", state=ONLINE)

    statuses = selectors.presence_of(user=alice, user_ids=[bob.pk, gone.pk, 10**9])

    assert statuses == {bob.pk: ONLINE}
    # The hand-written query and the directory it stands in for agree.
    ids = [alice.pk, bob.pk, gone.pk, 10**9]
    directory = selectors.user_directory(user=alice).filter(pk__in=ids)
    assert set(selectors.presence_of(user=alice, user_ids=ids)) == set(
        directory.values_list("pk", flat=True)
    )
    assert selectors.presence_of(user=alice, user_ids=[]) == {}


# --- thread roots in the catch-up stream ---------------------------------------------------------


def test_reply_gives_its_root_the_version_of_the_reply(
    alice: User, bob: User, general: Channel
) -> None:
    root = send(alice, general, "root")
    send(alice, general, "other")

    reply = send(bob, general, "reply", thread_root_id=root.pk)

    root.refresh_from_db()
    assert (root.seq, root.version, reply.version) == (1, 3, 3)


def test_deleting_a_reply_gives_its_root_the_version_of_the_deletion(
    alice: User, bob: User, general: Channel
) -> None:
    root = send(alice, general, "root")
    reply = send(bob, general, "reply", thread_root_id=root.pk)

    services.message_delete(user=bob, message_id=reply.pk)

    root.refresh_from_db()
    reply.refresh_from_db()
    assert root.version == reply.version == 3


def test_catch_up_returns_the_root_whose_reply_count_changed(
    alice: User, bob: User, general: Channel
) -> None:
    root = send(alice, general, "root")
    reply = send(bob, general, "reply", thread_root_id=root.pk)

    page = selectors.channel_history(user=bob, channel_id=general.pk, after_seq=1)

    assert [m.pk for m in page.messages] == [root.pk, reply.pk]


def test_catch_up_page_never_ends_between_a_reply_and_its_root(
    alice: User, bob: User, general: Channel
) -> None:
    root = send(alice, general, "root")
    reply = send(bob, general, "reply", thread_root_id=root.pk)
    later = send(alice, general, "later")

    first = selectors.channel_history(user=bob, channel_id=general.pk, after_seq=1, limit=1)
    second = selectors.channel_history(
        user=bob, channel_id=general.pk, after_seq=first.messages[-1].version, limit=1
    )

    assert ([m.pk for m in first.messages], first.has_more_after) == ([root.pk, reply.pk], True)
    assert ([m.pk for m in second.messages], second.has_more_after) == ([later.pk], False)
