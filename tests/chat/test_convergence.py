"""A client that missed pushes converges over REST `?after_seq=N`
(docs/architecture/realtime.md).

The client model here does what a real client must: apply pushes in `channel_seq` order by
message id, notice a gap, fetch `after_seq` pages (small pages, continuing from the last
returned `version` while `has_more_after`) and apply them by id, never letting an older state
overwrite a newer one. Its state is then compared with a fresh full fetch.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from rest_framework.test import APIClient

from apps.accounts.models import User
from apps.chat import services
from apps.chat.models import Channel, ChannelKind
from tests.ws import WsClient

pytestmark = pytest.mark.django_db(transaction=True)

Connect = Callable[..., Awaitable[WsClient]]
CHANNEL_EVENTS = frozenset(
    {"message.new", "message.updated", "message.deleted", "reaction.added", "reaction.removed"}
)
PAGE = 2


def sync(function: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    return database_sync_to_async(function)


def history(user: User, channel: Channel, **params: Any) -> dict[str, Any]:
    client = APIClient()
    client.force_authenticate(user)
    response = client.get(f"/api/v1/channels/{channel.pk}/messages/", params)
    assert response.status_code == 200, response.content
    return response.json()


class ClientModel:
    """What a client holds about one channel: messages by id, and the last channel_seq applied."""

    def __init__(self, user: User, channel: Channel) -> None:
        self.user = user
        self.channel = channel
        self.messages: dict[int, dict[str, Any]] = {}
        self.applied_seq = 0
        self.catch_ups = 0

    def _store(self, payload: dict[str, Any]) -> None:
        known = self.messages.get(payload["id"])
        if known is None or payload["version"] >= known["version"]:
            self.messages[payload["id"]] = payload

    def load(self) -> None:
        page = history(self.user, self.channel, limit=200)
        for payload in page["messages"]:
            self._store(payload)
        self.applied_seq = page["last_seq"]

    def catch_up(self) -> None:
        """Fetch everything changed after `applied_seq`, page by page."""
        self.catch_ups += 1
        cursor = self.applied_seq
        while True:
            page = history(self.user, self.channel, after_seq=cursor, limit=PAGE)
            for payload in page["messages"]:
                self._store(payload)
            if page["messages"]:
                cursor = page["messages"][-1]["version"]
            self.applied_seq = max(self.applied_seq, page["last_seq"], cursor)
            if not page["has_more_after"]:
                return

    def push(self, event: dict[str, Any]) -> None:
        """Apply a pushed channel event, catching up over REST when one is missing."""
        seq = event["channel_seq"]
        if seq <= self.applied_seq:
            return  # already covered by a catch-up
        if seq != self.applied_seq + 1:
            self.catch_up()
            return
        if "message" in event:
            self._store(event["message"])
            self._apply_thread_root(event, seq)
        else:  # reaction.added / reaction.removed
            known = self.messages.get(event["message_id"])
            if known is not None and seq > known["version"]:
                self.messages[event["message_id"]] = {
                    **known,
                    "reactions": event["reactions"],
                    "version": seq,
                }
        self.applied_seq = seq

    def _apply_thread_root(self, event: dict[str, Any], seq: int) -> None:
        """A reply sent or deleted changes its root (reply count) in the same channel_seq."""
        root_id = event["message"]["thread_root_id"]
        root = self.messages.get(root_id) if root_id is not None else None
        if root is None or seq <= root["version"]:
            return
        if event["type"] == "message.new":
            changes = {key: event["thread_root"][key] for key in ("reply_count", "last_reply_at")}
        elif event["type"] == "message.deleted":
            changes = {"reply_count": max(root["reply_count"] - 1, 0)}
        else:
            return
        self.messages[root_id] = {**root, **changes, "version": seq}

    def view(self) -> list[dict[str, Any]]:
        return [
            self.messages[key]
            for key in sorted(self.messages, key=lambda k: self.messages[k]["seq"])
        ]


def fresh_view(user: User, channel: Channel) -> list[dict[str, Any]]:
    fresh = ClientModel(user, channel)
    fresh.load()
    return fresh.view()


def summary(view: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (
            m["id"],
            m["seq"],
            m["body"],
            m["deleted"],
            [(r["emoji"], r["user_ids"]) for r in m["reactions"]],
        )
        for m in view
    ]


@pytest.fixture
def trio(make_user: Callable[..., User], make_channel: Callable[..., Channel]) -> Any:
    ann, bob, cat = make_user(), make_user(), make_user()
    return ann, bob, cat, make_channel(kind=ChannelKind.PRIVATE, members=(ann, bob, cat))


def _send(user: User, channel: Channel, body: str) -> int:
    return services.message_send(
        sender=user, channel_id=channel.pk, body=body, client_msg_id=uuid.uuid4()
    ).message.pk


def _activity_while_away(ann: User, cat: User, channel: Channel, early: list[int]) -> None:
    """Sends, edits (old and new messages), deletes, reactions added and taken back."""
    first = _send(ann, channel, "first while away")
    second = _send(cat, channel, "second while away")
    services.message_edit(user=ann, message_id=early[0], body="old message, edited")
    services.message_edit(user=ann, message_id=first, body="first, edited")
    services.reaction_add(user=cat, message_id=early[1], emoji="👍")
    services.reaction_add(user=ann, message_id=early[1], emoji="👍")
    services.reaction_add(user=ann, message_id=first, emoji="🎉")
    services.reaction_remove(user=ann, message_id=first, emoji="🎉")
    services.reaction_add(user=cat, message_id=second, emoji="🚀")
    services.message_delete(user=ann, message_id=early[2])
    services.message_delete(user=cat, message_id=second)  # had a reaction
    _send(ann, channel, "last while away")


async def test_reconnecting_client_converges_with_after_seq_pages(
    ws_connect: Connect, trio: Any
) -> None:
    ann, bob, cat, channel = trio
    early = [await sync(_send)(ann, channel, f"early {n}") for n in range(3)]
    model = ClientModel(bob, channel)
    await sync(model.load)()
    bob_socket = await ws_connect(bob)
    await sync(_send)(cat, channel, "while bob is connected")
    await sync(model.push)(await bob_socket.event("message.new"))
    await bob_socket.disconnect()

    await sync(_activity_while_away)(ann, cat, channel, early)
    await sync(model.catch_up)()
    expected = await sync(fresh_view)(bob, channel)

    assert summary(model.view()) == summary(expected)
    assert model.view() == expected  # every field, not only the compared ones
    assert model.applied_seq == (await sync(Channel.objects.get)(pk=channel.pk)).last_seq


async def test_client_that_drops_pushes_notices_the_gap_and_converges(
    ws_connect: Connect, trio: Any
) -> None:
    ann, bob, cat, channel = trio
    early = [await sync(_send)(ann, channel, f"early {n}") for n in range(3)]
    model = ClientModel(bob, channel)
    await sync(model.load)()
    bob_socket = await ws_connect(bob)

    await sync(_activity_while_away)(ann, cat, channel, early)
    events = [f for f in await bob_socket.drain() if f["type"] in CHANNEL_EVENTS]
    for index, event in enumerate(events):
        if index % 3 == 1:
            continue  # lost on the way
        await sync(model.push)(event)
    await sync(model.catch_up)()  # the last push may itself have been lost
    expected = await sync(fresh_view)(bob, channel)

    assert model.catch_ups >= 2
    assert model.view() == expected


async def test_channel_seq_is_dense_across_every_channel_event(
    ws_connect: Connect, trio: Any
) -> None:
    ann, bob, cat, channel = trio
    start = (await sync(Channel.objects.get)(pk=channel.pk)).last_seq
    bob_socket = await ws_connect(bob)
    ann_socket = await ws_connect(ann)

    sent = await ann_socket.ask(
        {
            "type": "message.send",
            "channel_id": channel.pk,
            "body": "a",
            "client_msg_id": str(uuid.uuid4()),
        }
    )
    message_id = sent["message_id"]
    operations = [
        {"type": "message.edit", "message_id": message_id, "body": "a, edited"},
        {"type": "message.edit", "message_id": message_id, "body": "a, edited"},  # no change
        {"type": "reaction.add", "message_id": message_id, "emoji": "👍"},
        {"type": "reaction.add", "message_id": message_id, "emoji": "👍"},  # already there
        {"type": "reaction.remove", "message_id": message_id, "emoji": "👍"},
        {"type": "reaction.remove", "message_id": message_id, "emoji": "👍"},  # already gone
        {"type": "typing", "channel_id": channel.pk},  # ephemeral, no sequence value
        {"type": "read.mark", "channel_id": channel.pk, "seq": 1},
        {
            "type": "message.send",
            "channel_id": channel.pk,
            "body": "reply",
            "client_msg_id": str(uuid.uuid4()),
            "thread_root_id": message_id,
        },
        {"type": "message.delete", "message_id": message_id},
    ]
    acks = [await ann_socket.ask(operation) for operation in operations]
    await sync(services.reaction_add)(user=cat, message_id=acks[-2]["message_id"], emoji="🎉")
    frames = [f for f in await bob_socket.drain() if f["type"] in CHANNEL_EVENTS]
    last_seq = (await sync(Channel.objects.get)(pk=channel.pk)).last_seq

    assert [f["type"] for f in frames] == [
        "message.new",
        "message.updated",
        "reaction.added",
        "reaction.removed",
        "message.new",
        "message.deleted",
        "reaction.added",
    ]
    assert {ack["type"] for ack in acks} == {"ack"}
    assert [f["channel_seq"] for f in frames] == list(range(start + 1, last_seq + 1))


def _thread_activity(ann: User, cat: User, channel: Channel, root: int) -> None:
    replies = [
        services.message_send(
            sender=user,
            channel_id=channel.pk,
            body=f"reply {n}",
            client_msg_id=uuid.uuid4(),
            thread_root_id=root,
        ).message.pk
        for n, user in enumerate([cat, ann, cat, ann])
    ]
    services.message_delete(user=cat, message_id=replies[0])
    services.reaction_add(user=ann, message_id=replies[2], emoji="👀")
    _send(ann, channel, "back in the channel")


async def test_thread_replies_converge_live_and_after_seq(ws_connect: Connect, trio: Any) -> None:
    # A reply (or its deletion) changes the root's reply count in the same change of the
    # channel: the live client applies it from the push, the returning one from after_seq pages.
    ann, bob, cat, channel = trio
    root = await sync(_send)(ann, channel, "root")
    live, returning = ClientModel(bob, channel), ClientModel(bob, channel)
    await sync(live.load)()
    await sync(returning.load)()
    bob_socket = await ws_connect(bob)

    await sync(_thread_activity)(ann, cat, channel, root)
    for event in [f for f in await bob_socket.drain() if f["type"] in CHANNEL_EVENTS]:
        await sync(live.push)(event)
    await sync(returning.catch_up)()
    expected = await sync(fresh_view)(bob, channel)

    assert live.catch_ups == 0
    assert live.view() == expected
    assert returning.view() == expected
    assert expected[0]["reply_count"] == 3
