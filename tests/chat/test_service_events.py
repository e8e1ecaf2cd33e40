"""What each chat service publishes after commit: type, audience topics and payload.

Events leave only when the transaction commits, so every test here runs with real commits
(`transaction=True`) and reads what `captured_events` recorded.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction

from apps.accounts.models import User
from apps.chat import services
from apps.chat.models import Channel, ChannelKind, ChannelRole, Message
from apps.chat.presence import AWAY, ONLINE
from apps.core.errors import DomainError
from apps.core.events import channel_topic, presence_topic, user_topic
from tests.chat.support import send

pytestmark = pytest.mark.django_db(transaction=True)

Events = list[dict[str, Any]]


@pytest.fixture
def alice(make_user: Callable[..., User]) -> User:
    return make_user(username="alice")


@pytest.fixture
def bob(make_user: Callable[..., User]) -> User:
    return make_user(username="bob")


@pytest.fixture
def carol(make_user: Callable[..., User]) -> User:
    return make_user(username="carol")


@pytest.fixture
def events(captured_events: Events, general: Channel) -> Events:
    """Captured events, starting empty after the fixtures' own setup events."""
    captured_events.clear()
    return captured_events


def only(events: Events) -> dict[str, Any]:
    assert len(events) == 1, [e["type"] for e in events]
    return events[0]


# --- messages ----------------------------------------------------------------------------------


def test_send_publishes_message_new_to_the_channel(
    alice: User, bob: User, general: Channel, events: Events
) -> None:
    message = send(alice, general, "hi @bob", client_msg_id=uuid.uuid4())

    event = only(events)
    assert event["type"] == "message.new"
    assert event["v"] == 1
    assert event["topics"] == [channel_topic(general.pk)]
    assert event["channel_id"] == general.pk
    assert event["channel_seq"] == message.seq
    assert event["message"]["id"] == message.pk
    assert event["message"]["body"] == "hi @bob"
    assert event["message"]["sender_name"] == alice.name
    assert event["message"]["client_msg_id"] == str(message.client_msg_id)
    assert event["message"]["mentioned_user_ids"] == [bob.pk]
    assert "thread_root" not in event


def test_reply_event_carries_the_thread_root_counts(
    alice: User, bob: User, general: Channel, events: Events
) -> None:
    root = send(alice, general, "question")
    events.clear()

    reply = send(bob, general, "answer", thread_root_id=root.pk)

    event = only(events)
    assert event["message"]["thread_root_id"] == root.pk
    assert event["thread_root"] == {
        "id": root.pk,
        "reply_count": 1,
        "last_reply_at": reply.created_at.isoformat(),
    }


def test_resend_with_known_client_msg_id_publishes_nothing(
    alice: User, general: Channel, events: Events
) -> None:
    client_msg_id = uuid.uuid4()
    send(alice, general, client_msg_id=client_msg_id)
    events.clear()

    send(alice, general, client_msg_id=client_msg_id)

    assert events == []


def test_edit_publishes_message_updated_with_new_version(
    alice: User, bob: User, general: Channel, events: Events
) -> None:
    message = send(alice, general, "draft")
    events.clear()

    services.message_edit(user=alice, message_id=message.pk, body="final @bob")

    event = only(events)
    assert event["type"] == "message.updated"
    assert event["topics"] == [channel_topic(general.pk)]
    assert event["channel_seq"] == 2
    assert event["message"]["version"] == 2
    assert event["message"]["body"] == "final @bob"
    assert event["message"]["mentioned_user_ids"] == [bob.pk]
    assert event["message"]["edited_at"] is not None


def test_delete_publishes_a_tombstone(
    alice: User, bob: User, general: Channel, events: Events
) -> None:
    message = send(alice, general, "oops @bob")
    services.reaction_add(user=bob, message_id=message.pk, emoji="👍")
    events.clear()

    services.message_delete(user=alice, message_id=message.pk)

    event = only(events)
    assert event["type"] == "message.deleted"
    assert event["topics"] == [channel_topic(general.pk)]
    assert event["channel_seq"] == 3
    tombstone = event["message"]
    assert (tombstone["id"], tombstone["seq"], tombstone["deleted"]) == (message.pk, 1, True)
    assert (tombstone["body"], tombstone["html"], tombstone["reactions"]) == ("", "", [])
    assert tombstone["mentioned_user_ids"] == []


def test_reaction_add_publishes_reaction_added_with_totals(
    alice: User, bob: User, general: Channel, events: Events
) -> None:
    message = send(alice, general)
    services.reaction_add(user=alice, message_id=message.pk, emoji="🎉")
    events.clear()

    services.reaction_add(user=bob, message_id=message.pk, emoji="🎉")

    event = only(events)
    assert event["type"] == "reaction.added"
    assert event["topics"] == [channel_topic(general.pk)]
    assert (event["message_id"], event["user_id"], event["emoji"]) == (message.pk, bob.pk, "🎉")
    assert event["channel_seq"] == 3
    assert event["reactions"] == [{"emoji": "🎉", "count": 2, "user_ids": [alice.pk, bob.pk]}]


def test_reaction_remove_publishes_reaction_removed(
    alice: User, bob: User, general: Channel, events: Events
) -> None:
    message = send(alice, general)
    services.reaction_add(user=bob, message_id=message.pk, emoji="🎉")
    events.clear()

    services.reaction_remove(user=bob, message_id=message.pk, emoji="🎉")

    event = only(events)
    assert event["type"] == "reaction.removed"
    assert event["reactions"] == []
    assert event["channel_seq"] == 3


def test_repeated_reaction_publishes_nothing(alice: User, general: Channel, events: Events) -> None:
    message = send(alice, general)
    services.reaction_add(user=alice, message_id=message.pk, emoji="🎉")
    events.clear()

    services.reaction_add(user=alice, message_id=message.pk, emoji="🎉")

    assert events == []


def test_channel_change_stream_is_dense(
    alice: User, bob: User, general: Channel, events: Events
) -> None:
    first = send(alice, general)
    second = send(bob, general, thread_root_id=first.pk)
    services.message_edit(user=alice, message_id=first.pk, body="edited")
    services.reaction_add(user=bob, message_id=first.pk, emoji="👍")
    services.reaction_remove(user=bob, message_id=first.pk, emoji="👍")
    services.message_delete(user=bob, message_id=second.pk)

    assert [e["channel_seq"] for e in events if "channel_seq" in e] == [1, 2, 3, 4, 5, 6]


# --- channels and members ----------------------------------------------------------------------


def test_channel_create_tells_each_member_their_new_channel(
    alice: User, bob: User, captured_events: Events
) -> None:
    channel = services.channel_create(
        creator=alice, kind=ChannelKind.PRIVATE, name="ops", member_ids=[bob.pk]
    )

    created = [e for e in captured_events if e["type"] == "channel.created"]
    assert sorted(e["topics"][0] for e in created) == sorted(
        [user_topic(alice.pk), user_topic(bob.pk)]
    )
    assert all(len(e["topics"]) == 1 for e in created)
    assert all(e["channel"]["id"] == channel.pk for e in created)
    assert all(e["channel"]["name"] == "ops" for e in created)


def test_channel_create_announces_each_member_to_the_channel(
    alice: User, bob: User, captured_events: Events
) -> None:
    channel = services.channel_create(
        creator=alice, kind=ChannelKind.PUBLIC, name="ops", member_ids=[bob.pk]
    )

    joined = [e for e in captured_events if e["type"] == "member.joined"]
    assert {(e["user_id"], e["role"]) for e in joined} == {
        (alice.pk, ChannelRole.ADMIN),
        (bob.pk, ChannelRole.MEMBER),
    }
    assert all(e["topics"] == [channel_topic(channel.pk)] for e in joined)


def test_failed_channel_create_publishes_nothing(
    alice: User, make_user: Callable[..., User], captured_events: Events
) -> None:
    gone = make_user(is_active=False)

    with pytest.raises(DomainError):
        services.channel_create(
            creator=alice, kind=ChannelKind.PUBLIC, name="ops", member_ids=[gone.pk]
        )

    assert captured_events == []


def test_channel_update_publishes_channel_updated(
    alice: User, general: Channel, events: Events
) -> None:
    services.channel_update(actor=alice, channel_id=general.pk, name="town-square", topic="hi")

    event = only(events)
    assert event["type"] == "channel.updated"
    assert event["topics"] == [channel_topic(general.pk)]
    assert (event["channel"]["name"], event["channel"]["topic"]) == ("town-square", "hi")


def test_archive_publishes_channel_updated(alice: User, general: Channel, events: Events) -> None:
    services.channel_set_archived(actor=alice, channel_id=general.pk, archived=True)

    event = only(events)
    assert event["type"] == "channel.updated"
    assert event["channel"]["is_archived"] is True


def test_archiving_an_archived_channel_publishes_nothing(
    alice: User, general: Channel, events: Events
) -> None:
    services.channel_set_archived(actor=alice, channel_id=general.pk, archived=True)
    events.clear()

    services.channel_set_archived(actor=alice, channel_id=general.pk, archived=True)

    assert events == []


def test_join_announces_member_and_sends_channel_to_joiner(
    carol: User, general: Channel, events: Events
) -> None:
    services.channel_join(user=carol, channel_id=general.pk)

    by_type = {e["type"]: e for e in events}
    assert set(by_type) == {"member.joined", "channel.created"}
    assert by_type["member.joined"]["topics"] == [channel_topic(general.pk)]
    assert by_type["member.joined"]["user_id"] == carol.pk
    assert by_type["channel.created"]["topics"] == [user_topic(carol.pk)]


def test_join_tells_joiners_sockets_to_subscribe(
    carol: User, general: Channel, events: Events, captured_controls: Events
) -> None:
    services.channel_join(user=carol, channel_id=general.pk)

    assert captured_controls == [
        {
            "topics": [user_topic(carol.pk)],
            "type": "client.control",
            "action": "join",
            "channel_id": general.pk,
        }
    ]


def test_leave_tells_leaver_and_channel(bob: User, general: Channel, events: Events) -> None:
    services.channel_leave(user=bob, channel_id=general.pk)

    assert [(e["type"], e["topics"]) for e in events] == [
        ("member.left", [user_topic(bob.pk)]),
        ("member.left", [channel_topic(general.pk)]),
    ]
    assert all(e["user_id"] == bob.pk for e in events)


def test_removal_unsubscribes_removed_users_sockets(
    alice: User, bob: User, general: Channel, events: Events, captured_controls: Events
) -> None:
    services.channel_remove_member(actor=alice, channel_id=general.pk, user_id=bob.pk)

    assert [(c["action"], c["topics"]) for c in captured_controls] == [
        ("leave", [user_topic(bob.pk)])
    ]
    assert {e["type"] for e in events} == {"member.left"}


def test_role_change_publishes_member_updated(
    alice: User, bob: User, general: Channel, events: Events
) -> None:
    services.membership_set_role(
        actor=alice, channel_id=general.pk, user_id=bob.pk, role=ChannelRole.ADMIN
    )

    event = only(events)
    assert event["type"] == "member.updated"
    assert event["topics"] == [channel_topic(general.pk)]
    assert (event["user_id"], event["role"]) == (bob.pk, ChannelRole.ADMIN)


def test_unchanged_role_publishes_nothing(
    alice: User, bob: User, general: Channel, events: Events
) -> None:
    services.membership_set_role(
        actor=alice, channel_id=general.pk, user_id=bob.pk, role=ChannelRole.MEMBER
    )

    assert events == []


def test_dm_open_sends_the_new_channel_to_both_people(
    alice: User, bob: User, events: Events
) -> None:
    dm = services.dm_open(user=alice, user_ids=[bob.pk])

    created = [e for e in events if e["type"] == "channel.created"]
    assert sorted(e["topics"][0] for e in created) == sorted(
        [user_topic(alice.pk), user_topic(bob.pk)]
    )
    assert all(e["channel"]["id"] == dm.pk for e in created)


def test_dm_created_event_lists_the_members(alice: User, bob: User, events: Events) -> None:
    services.dm_open(user=alice, user_ids=[bob.pk])

    created = [e for e in events if e["type"] == "channel.created"]
    assert [e["channel"]["member_ids"] for e in created] == [
        sorted([alice.pk, bob.pk]),
        sorted([alice.pk, bob.pk]),
    ]


def test_reopening_a_dm_publishes_nothing(alice: User, bob: User, events: Events) -> None:
    services.dm_open(user=alice, user_ids=[bob.pk])
    events.clear()

    services.dm_open(user=bob, user_ids=[alice.pk])

    assert events == []


# --- read, typing, presence --------------------------------------------------------------------


def test_read_mark_tells_only_the_readers_other_tabs(
    alice: User, bob: User, general: Channel, events: Events
) -> None:
    send(alice, general)
    send(alice, general)
    events.clear()

    services.read_mark(user=bob, channel_id=general.pk, seq=2)

    event = only(events)
    assert event["type"] == "read"
    assert event["topics"] == [user_topic(bob.pk)]
    assert (event["channel_id"], event["last_read_seq"]) == (general.pk, 2)


def test_read_mark_backward_publishes_nothing(
    alice: User, bob: User, general: Channel, events: Events
) -> None:
    send(alice, general)
    services.read_mark(user=bob, channel_id=general.pk, seq=1)
    events.clear()

    services.read_mark(user=bob, channel_id=general.pk, seq=0)

    assert events == []


def test_typing_is_published_to_the_channel(alice: User, general: Channel, events: Events) -> None:
    root = send(alice, general)
    events.clear()

    services.typing_notify(user=alice, channel_id=general.pk, thread_root_id=root.pk)

    event = only(events)
    assert event == {
        "topics": [channel_topic(general.pk)],
        "v": 1,
        "type": "typing",
        "channel_id": general.pk,
        "user_id": alice.pk,
        "thread_root_id": root.pk,
    }


def test_presence_change_is_published_to_its_watchers(alice: User, captured_events: Events) -> None:
    services.presence_update(user=alice, connection_id="tab-1", state=ONLINE)

    event = only(captured_events)
    assert event["topics"] == [presence_topic(alice.pk)]
    assert (event["type"], event["user_id"], event["status"]) == ("presence", alice.pk, ONLINE)


def test_second_online_tab_publishes_no_presence(alice: User, captured_events: Events) -> None:
    services.presence_update(user=alice, connection_id="tab-1", state=ONLINE)
    captured_events.clear()

    services.presence_update(user=alice, connection_id="tab-2", state=ONLINE)
    services.presence_update(user=alice, connection_id="tab-2", state=AWAY)

    assert captured_events == []


def test_last_tab_closing_publishes_offline(alice: User, captured_events: Events) -> None:
    services.presence_update(user=alice, connection_id="tab-1", state=AWAY)
    captured_events.clear()

    services.presence_disconnect(user=alice, connection_id="tab-1")

    assert [(e["type"], e["status"]) for e in captured_events] == [("presence", "offline")]


# --- nothing leaks from rolled-back work ---------------------------------------------------------


def test_rolled_back_transaction_publishes_nothing(
    alice: User, general: Channel, events: Events
) -> None:
    def write_then_fail() -> None:
        with transaction.atomic():
            message = send(alice, general)
            services.message_edit(user=alice, message_id=message.pk, body="edited")
            services.reaction_add(user=alice, message_id=message.pk, emoji="👍")
            raise RuntimeError("abort")

    with pytest.raises(RuntimeError):
        write_then_fail()

    assert events == []
    assert not Message.objects.filter(channel=general).exists()


def test_events_of_a_committed_transaction_leave_after_commit(
    alice: User, general: Channel, events: Events
) -> None:
    with transaction.atomic():
        send(alice, general)
        assert events == []

    assert [e["type"] for e in events] == ["message.new"]


# --- pushes applied to a stale client state converge to a fresh fetch ---------------------------


def _apply(state: dict[int, dict[str, Any]], event: dict[str, Any]) -> None:
    """What a client does with a channel-scoped push (see apps/chat/events.py)."""
    kind = event["type"]
    if kind in ("message.new", "message.updated", "message.deleted"):
        message = event["message"]
        state[message["id"]] = message
        root_id = message["thread_root_id"]
        if root_id in state and "thread_root" in event:
            state[root_id].update(
                reply_count=event["thread_root"]["reply_count"],
                last_reply_at=event["thread_root"]["last_reply_at"],
                version=event["channel_seq"],
            )
    elif kind in ("reaction.added", "reaction.removed"):
        state[event["message_id"]].update(
            reactions=event["reactions"], version=event["channel_seq"]
        )


def test_pushed_events_bring_a_stale_client_to_the_stored_history(
    alice: User, bob: User, general: Channel, captured_events: Events
) -> None:
    from apps.chat import selectors

    def fetch() -> list[dict[str, Any]]:
        page = selectors.channel_history(user=bob, channel_id=general.pk, limit=200)
        return selectors.payloads(page.messages)

    old = [send(alice, general, f"message {n}") for n in range(4)]
    state = {m["id"]: m for m in fetch()}
    captured_events.clear()

    services.message_edit(user=alice, message_id=old[0].pk, body="edited @bob")
    services.reaction_add(user=bob, message_id=old[1].pk, emoji="🎉")
    services.reaction_add(user=alice, message_id=old[1].pk, emoji="🎉")
    services.reaction_remove(user=bob, message_id=old[1].pk, emoji="🎉")
    services.message_delete(user=alice, message_id=old[2].pk)
    reply = send(bob, general, "reply", thread_root_id=old[3].pk)
    send(alice, general, "second reply", thread_root_id=reply.pk)
    services.message_delete(user=bob, message_id=reply.pk)
    send(bob, general, "brand new")
    for event in captured_events:
        _apply(state, event)

    assert sorted(state.values(), key=lambda m: m["seq"]) == fetch()
