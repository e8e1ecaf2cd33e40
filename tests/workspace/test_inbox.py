"""The inbox: unread mentions, replies to my threads and DMs; mark all read."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apps.accounts.models import User
from apps.chat import services as chat
from apps.chat.models import Channel, Membership
from apps.core.errors import NotFound
from apps.ops.models import FeatureFlag
from apps.workspace import inbox
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def inbox_flag(db: None) -> None:
    FeatureFlag.objects.create(name=inbox.FLAG, everyone=True)
    cache.clear()  # flags are cached with their members


def send(sender: User, channel: Channel, body: str, root: int | None = None) -> int:
    return chat.message_send(
        sender=sender, channel_id=channel.pk, body=body, thread_root_id=root
    ).message.pk


@pytest.fixture
def people() -> tuple[User, User, User]:
    return UserFactory(username="me"), UserFactory(username="bob"), UserFactory(username="cat")


def test_inbox_holds_unread_mentions_replies_to_my_threads_and_dms(people) -> None:
    me, bob, cat = people
    room = chat.channel_create(creator=bob, kind="public", name="room", member_ids=[me.pk, cat.pk])
    dm = chat.dm_open(user=bob, user_ids=[me.pk])
    mine = send(me, room, "my question")
    reply = send(bob, room, "an answer", root=mine)
    mention = send(cat, room, "hey @me look")
    direct = send(bob, dm, "psst")
    send(cat, room, "chatter nobody asked me about")
    other_dm = chat.dm_open(user=cat, user_ids=[me.pk])
    send(cat, other_dm, "are you there?")
    send(me, other_dm, "yes (answering reads the DM)")

    result = inbox.inbox_list(user=me)

    assert [(i["reason"], i["message"]["id"]) for i in result["items"]] == [
        ("direct", direct),
        ("mention", mention),
        ("reply", reply),
    ]
    assert {c["id"] for c in result["channels"]} == {room.pk, dm.pk}


def test_what_was_read_leaves_the_inbox(people) -> None:
    me, bob, _cat = people
    dm = chat.dm_open(user=bob, user_ids=[me.pk])
    send(bob, dm, "first")
    chat.read_mark(user=me, channel_id=dm.pk, seq=Channel.objects.get(pk=dm.pk).last_seq)
    later = send(bob, dm, "second")

    assert [i["message"]["id"] for i in inbox.inbox_list(user=me)["items"]] == [later]


def test_mark_all_read_empties_the_inbox_and_moves_read_positions(people) -> None:
    me, bob, cat = people
    room = chat.channel_create(creator=bob, kind="public", name="room", member_ids=[me.pk])
    dm = chat.dm_open(user=cat, user_ids=[me.pk])
    send(bob, room, "@me ping")
    send(cat, dm, "hello")

    marked = inbox.inbox_mark_all_read(user=me)

    assert {m["channel_id"] for m in marked} == {room.pk, dm.pk}
    assert inbox.inbox_list(user=me)["items"] == []
    for membership in Membership.objects.filter(user=me).select_related("channel"):
        assert membership.last_read_seq == membership.channel.last_seq


def test_mark_all_read_leaves_other_peoples_read_positions(people) -> None:
    me, bob, cat = people
    room = chat.channel_create(creator=bob, kind="public", name="room", member_ids=[me.pk, cat.pk])
    send(bob, room, "@me @cat both")

    inbox.inbox_mark_all_read(user=me)

    assert Membership.objects.get(user=cat, channel=room).last_read_seq == 0


def test_inbox_query_count_does_not_grow_with_channels(people) -> None:
    me, bob, _cat = people

    def add_channels(count: int) -> None:
        for _n in range(count):
            dm_with = UserFactory()
            send(dm_with, chat.dm_open(user=dm_with, user_ids=[me.pk]), "dm")
            room = chat.channel_create(
                creator=bob, kind="public", name=f"r{Channel.objects.count()}", member_ids=[me.pk]
            )
            send(bob, room, "@me hi")

    def queries_of_inbox(expected_items: int) -> int:
        inbox.inbox_list(user=me)  # the flag is cached from now on
        with CaptureQueriesContext(connection) as queries:
            assert len(inbox.inbox_list(user=me)["items"]) == expected_items
        return len(queries)

    add_channels(1)
    few = queries_of_inbox(2)
    add_channels(5)

    assert queries_of_inbox(12) == few <= 4


def test_inbox_needs_its_flag(people) -> None:
    FeatureFlag.objects.filter(name=inbox.FLAG).update(everyone=False)
    cache.clear()

    with pytest.raises(NotFound) as error:
        inbox.inbox_list(user=people[0])

    assert error.value.code == "feature_disabled"


def test_rest_inbox_and_mark_all_read(people) -> None:
    me, bob, _cat = people
    dm = chat.dm_open(user=bob, user_ids=[me.pk])
    send(bob, dm, "hello")
    client = APIClient()
    client.force_authenticate(me)

    listed = client.get("/api/v1/inbox/")
    marked = client.post("/api/v1/inbox/mark-all-read/")
    after = client.get("/api/v1/inbox/")

    assert [i["reason"] for i in listed.json()["items"]] == ["direct"]
    assert marked.status_code == 200
    assert marked.json()[0]["channel_id"] == dm.pk
    assert after.json()["items"] == []


def test_rest_inbox_refuses_anonymous() -> None:
    assert APIClient().get("/api/v1/inbox/").status_code == 401
