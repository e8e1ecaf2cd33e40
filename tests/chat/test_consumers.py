"""The `/ws/` consumer over the real ASGI application (docs/architecture/realtime.md).

Runs on whatever channel layer the settings give: in-memory on the embedded default, Redis when
REDIS_URL is set. Every frame a socket receives is schema-checked by tests/ws.py.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import OperationalError, connection
from django.utils import translation

from apps.accounts.models import Role, User
from apps.accounts.services import (
    CLOSE_CODE_DEACTIVATED,
    CLOSE_CODE_SESSION_ENDED,
    user_deactivate,
)
from apps.chat import presence, services
from apps.chat.consumers import OPERATIONS, ClientConsumer
from apps.chat.models import Channel, ChannelKind, ChannelRole, Membership, Message
from tests.factories import ChannelFactory, MembershipFactory, UserFactory
from tests.ws import WsClient, application, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)

Connect = Callable[..., Awaitable[WsClient]]


def sync(function: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """Run a service (and its on-commit publishing) in the consumer's worker thread."""
    return database_sync_to_async(function)


def send_frame(channel: Channel, body: str = "hello", **extra: Any) -> dict[str, Any]:
    return {
        "type": "message.send",
        "channel_id": channel.pk,
        "body": body,
        "client_msg_id": str(uuid.uuid4()),
        **extra,
    }


async def send(client: WsClient, channel: Channel, body: str = "hello") -> dict[str, Any]:
    ack = await client.ask(send_frame(channel, body))
    assert ack["type"] == "ack", ack
    return ack


async def drain_all(*clients: WsClient) -> list[list[dict[str, Any]]]:
    """Drain several sockets at once (each waits for its own quiet period)."""
    return list(await asyncio.gather(*(client.drain() for client in clients)))


@pytest.fixture
def team(make_user: Callable[..., User], make_channel: Callable[..., Channel]) -> Any:
    """A private channel with admin `ann` and member `bob`; `eve` is in the org, not in it."""

    @dataclass
    class Team:
        ann: User
        bob: User
        eve: User
        channel: Channel

    ann, bob, eve = make_user(), make_user(), make_user()
    channel = make_channel(kind=ChannelKind.PRIVATE, admins=(ann,), members=(bob,))
    return Team(ann, bob, eve, channel)


# --- permission matrix ---------------------------------------------------------------------------

ROLES = ("owner", "admin", "member", "guest", "non_member")
MEMBERS = ("owner", "admin", "member", "guest")
ACK = "ack"
PONG = "pong"


@dataclass
class World:
    actor: User
    author: User
    public: Channel
    private: Channel
    others_message: Message
    own_message: Message
    private_message: Message


def build_world(role: str) -> World:
    """`actor` holds `role` (a member of `public`, except the non-member, who left it).

    `author` (channel admin of both channels) wrote `others_message` in `public` and
    `private_message` in `private`; `actor` wrote `own_message` in `public` and reacted 👍 to
    `others_message` while still a member.
    """
    org_role = {"owner": Role.OWNER, "admin": Role.ADMIN, "guest": Role.GUEST}.get(
        role, Role.MEMBER
    )
    actor, author = UserFactory(role=org_role), UserFactory()
    public = ChannelFactory(kind=ChannelKind.PUBLIC)
    private = ChannelFactory(kind=ChannelKind.PRIVATE)
    for channel in (public, private):
        MembershipFactory(channel=channel, user=author, role=ChannelRole.ADMIN)
    MembershipFactory(channel=public, user=actor)

    def post(user: User, channel: Channel, body: str) -> Message:
        return services.message_send(
            sender=user, channel_id=channel.pk, body=body, client_msg_id=uuid.uuid4()
        ).message

    others_message = post(author, public, "by the author")
    own_message = post(actor, public, "by the actor")
    private_message = post(author, private, "secret")
    services.reaction_add(user=actor, message_id=others_message.pk, emoji="👍")
    if role == "non_member":
        services.channel_leave(user=actor, channel_id=public.pk)
    return World(actor, author, public, private, others_message, own_message, private_message)


def everyone(outcome: str) -> dict[str, str]:
    return dict.fromkeys(ROLES, outcome)


def members_only(refusal: str) -> dict[str, str]:
    return {**dict.fromkeys(MEMBERS, ACK), "non_member": refusal}


# (operation fields built from the world, expected outcome per role)
MATRIX: dict[str, tuple[Callable[[World], dict[str, Any]], dict[str, str]]] = {
    "message.send/public": (
        lambda w: send_frame(w.public, "hi"),
        members_only("not_member"),
    ),
    "message.send/private": (
        lambda w: send_frame(w.private, "hi"),
        everyone("channel_not_found"),
    ),
    "message.edit/own": (
        lambda w: {"type": "message.edit", "message_id": w.own_message.pk, "body": "edited"},
        members_only("not_member"),
    ),
    "message.edit/others": (
        lambda w: {"type": "message.edit", "message_id": w.others_message.pk, "body": "edited"},
        everyone("not_author"),
    ),
    "message.delete/others": (
        lambda w: {"type": "message.delete", "message_id": w.others_message.pk},
        {
            "owner": ACK,
            "admin": ACK,
            "member": "not_author",
            "guest": "not_author",
            "non_member": "not_author",
        },
    ),
    "message.delete/private": (
        lambda w: {"type": "message.delete", "message_id": w.private_message.pk},
        everyone("message_not_found"),
    ),
    "reaction.add/public": (
        lambda w: {"type": "reaction.add", "message_id": w.others_message.pk, "emoji": "🎉"},
        members_only("not_member"),
    ),
    "reaction.add/private": (
        lambda w: {"type": "reaction.add", "message_id": w.private_message.pk, "emoji": "🎉"},
        everyone("message_not_found"),
    ),
    "reaction.remove/public": (
        lambda w: {"type": "reaction.remove", "message_id": w.others_message.pk, "emoji": "👍"},
        members_only("not_member"),
    ),
    "reaction.remove/private": (
        lambda w: {"type": "reaction.remove", "message_id": w.private_message.pk, "emoji": "👍"},
        everyone("message_not_found"),
    ),
    "read.mark/public": (
        lambda w: {"type": "read.mark", "channel_id": w.public.pk, "seq": 1},
        members_only("not_member"),
    ),
    "read.mark/private": (
        lambda w: {"type": "read.mark", "channel_id": w.private.pk, "seq": 1},
        everyone("channel_not_found"),
    ),
    "typing/public": (
        lambda w: {"type": "typing", "channel_id": w.public.pk},
        members_only("not_member"),
    ),
    "typing/private": (
        lambda w: {"type": "typing", "channel_id": w.private.pk},
        everyone("channel_not_found"),
    ),
    "presence.set/valid": (
        lambda w: {"type": "presence.set", "status": "away"},
        everyone(ACK),
    ),
    "presence.set/invalid": (
        lambda w: {"type": "presence.set", "status": "busy"},
        everyone("invalid_presence"),
    ),
    "presence.subscribe/valid": (
        lambda w: {"type": "presence.subscribe", "user_ids": [w.actor.pk]},
        everyone(ACK),
    ),
    "presence.subscribe/invalid": (
        lambda w: {"type": "presence.subscribe", "user_ids": "everyone"},
        everyone("invalid_field"),
    ),
    "ping/within_rate": (lambda w: {"type": "ping"}, everyone(PONG)),
    "ping/over_rate": (lambda w: {"type": "ping"}, everyone("rate_limited")),
}


def _last_seqs(world: World) -> tuple[int, int]:
    rows = dict(
        Channel.objects.filter(pk__in=[world.public.pk, world.private.pk]).values_list(
            "pk", "last_seq"
        )
    )
    return rows[world.public.pk], rows[world.private.pk]


async def _outcome(ws_connect: Connect, case: str, role: str) -> str:
    """Run `case` as `role` in a world of its own; return "ack", "pong" or the error code."""
    build, _outcomes = MATRIX[case]
    world = await sync(build_world)(role)
    seqs_before = await sync(_last_seqs)(world)
    client = await ws_connect(world.actor)
    if case == "ping/over_rate":
        await client.assert_open()  # takes the only token
    reply = await client.ask(build(world))
    if reply["type"] == "error":
        # A refused operation writes nothing: no channel consumed a sequence value.
        assert await sync(_last_seqs)(world) == seqs_before, f"{case} as {role} wrote"
    if case == "ping/over_rate":
        await asyncio.sleep(0.25)  # one token back
    await client.assert_open()  # errors are events: the socket stays usable
    await client.disconnect()
    return reply["type"] if reply["type"] in (ACK, PONG) else reply["code"]


@pytest.mark.parametrize("case", list(MATRIX))
async def test_operation_permission_matrix(ws_connect: Connect, settings: Any, case: str) -> None:
    # One row of the matrix per test, a world per role inside it: every transactional test
    # pays for emptying the database afterwards, so the five roles share one.
    if case == "ping/over_rate":
        settings.ENCLAVE_WS_RATE_PER_SECOND = 5.0
        settings.ENCLAVE_WS_RATE_BURST = 1
    expected = MATRIX[case][1]

    outcomes = {role: await _outcome(ws_connect, case, role) for role in ROLES}

    assert outcomes == expected


def test_matrix_covers_every_operation_with_an_allowed_and_a_refused_case() -> None:
    operations = {case.split("/")[0] for case in MATRIX}
    # Operations higher apps register (apps.calls' call.*) have their matrix in their own tests.
    chat_operations = {
        op for op, handler in OPERATIONS.items() if handler.__module__ == "apps.chat.consumers"
    }
    assert operations == {*chat_operations, "presence.set", "presence.subscribe", "ping"}
    for operation in operations:
        outcomes = {
            outcome
            for case, (_build, row) in MATRIX.items()
            if case.split("/")[0] == operation
            for outcome in row.values()
        }
        assert outcomes & {ACK, PONG}, f"{operation}: no allowed case"
        assert outcomes - {ACK, PONG}, f"{operation}: no refused case"


# --- acknowledgement -----------------------------------------------------------------------------


def _committed(message_id: int, seq: int) -> bool:
    """Read on a connection of its own: only committed rows are visible there."""
    try:
        return Message.objects.filter(pk=message_id, seq=seq).exists()
    finally:
        connection.close()


async def test_send_ack_comes_after_commit_and_carries_id_seq_and_ref(
    ws_connect: Connect, team: Any
) -> None:
    ann = await ws_connect(team.ann)
    frame = send_frame(team.channel, "committed?")
    frame["ref"] = "client-ref-42"

    await ann.send(frame)
    ack = await ann.reply("client-ref-42")
    stored = await database_sync_to_async(_committed, thread_sensitive=False)(
        ack["message_id"], ack["seq"]
    )

    assert ack["type"] == "ack"
    assert ack["ref"] == "client-ref-42"
    assert ack["client_msg_id"] == frame["client_msg_id"]
    assert ack["channel_id"] == team.channel.pk
    assert ack["duplicate"] is False
    assert stored, "the ack arrived before the message was committed"


async def test_channel_layer_failure_after_commit_still_acks_the_stored_message(
    ws_connect: Connect, team: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The push is a hint; the write committed. Redis failing at that moment must not turn a
    # stored message into an error (the client would resend; worse, it would show a failure).
    from apps.core import events as core_events

    ann = await ws_connect(team.ann)

    def layer_down(groups: list[str], message: dict[str, Any]) -> None:
        raise ConnectionError("Redis is restarting")

    monkeypatch.setattr(core_events, "_send_to_topics", layer_down)
    ack = await send(ann, team.channel, "stored anyway")

    assert await sync(Message.objects.filter(pk=ack["message_id"]).exists)()
    await ann.assert_open()


def _close_writer_connections(writers: int) -> None:
    """Close the database connection of every writer thread (each runs one of these)."""
    import threading

    from django.db import connections

    from apps.chat.consumers import _writer_pool

    barrier = threading.Barrier(writers, timeout=5)

    def close() -> None:
        barrier.wait()  # all threads at once: each closes its own connection
        connections.close_all()

    for future in [_writer_pool(writers).submit(close) for _ in range(writers)]:
        future.result()


@pytest.mark.postgres
async def test_two_writers_keep_seq_dense_under_concurrent_sends(
    ws_connect: Connect, team: Any, settings: Any, make_channel: Callable[..., Channel]
) -> None:
    settings.ENCLAVE_SEND_WRITERS = 2
    other = await sync(make_channel)(
        kind=ChannelKind.PRIVATE, admins=(team.ann,), members=(team.bob,)
    )
    try:
        sockets = [await ws_connect(user) for user in (team.ann, team.ann, team.bob, team.bob)]

        async def burst(client: WsClient, channel: Channel) -> list[dict[str, Any]]:
            return [await send(client, channel, f"n{n}") for n in range(10)]

        acks = await asyncio.gather(
            *(burst(client, (team.channel, other)[i % 2]) for i, client in enumerate(sockets))
        )
    finally:
        await sync(_close_writer_connections)(2)

    by_channel: dict[int, list[int]] = {}
    for ack in (a for socket_acks in acks for a in socket_acks):
        by_channel.setdefault(ack["channel_id"], []).append(ack["seq"])
    for channel_id, seqs in by_channel.items():
        stored = await sync(
            lambda c=channel_id: list(
                Message.objects.filter(channel_id=c).order_by("seq").values_list("seq", flat=True)
            )
        )()
        assert sorted(seqs) == stored  # every ack is a stored row, once
        assert stored == list(range(stored[0], stored[0] + len(stored)))  # dense


async def test_sending_tab_gets_the_ack_before_its_own_message_new(
    ws_connect: Connect, team: Any
) -> None:
    ann = await ws_connect(team.ann)

    ack = await send(ann, team.channel)

    assert not [f for f in ann.inbox if f["type"] == "message.new"], ann.inbox
    event = await ann.event("message.new")
    assert event["message"]["id"] == ack["message_id"]
    assert event["channel_seq"] == ack["seq"]


async def test_failed_send_answers_error_with_ref_and_stores_nothing(
    ws_connect: Connect, team: Any
) -> None:
    ann = await ws_connect(team.ann)

    reply = await ann.ask(send_frame(team.channel, "   "))

    assert reply["code"] == "empty_message"
    assert not await sync(Message.objects.filter(channel=team.channel).exists)()
    await ann.assert_nothing("message.new")


# --- fan-out -------------------------------------------------------------------------------------


async def test_events_reach_every_tab_of_every_member_and_no_one_else(
    ws_connect: Connect, team: Any, make_user: Callable[..., User]
) -> None:
    guest = await sync(make_user)(role=Role.GUEST)
    ann = await ws_connect(team.ann)
    bob_browser = await ws_connect(team.bob, auth="session")
    bob_api = await ws_connect(team.bob, auth="token")
    outsiders = [await ws_connect(team.eve), await ws_connect(guest)]
    members = [ann, bob_browser, bob_api]
    await drain_all(*members, *outsiders)  # presence of the tabs that opened after each

    ack = await send(ann, team.channel, "to the team")
    for client in members:
        event = await client.event("message.new")
        assert event["message"]["id"] == ack["message_id"]
        assert event["message"]["body"] == "to the team"
    await ann.request("message.edit", message_id=ack["message_id"], body="edited")
    await ann.request("reaction.add", message_id=ack["message_id"], emoji="👍")
    await ann.request("typing", channel_id=team.channel.pk)
    await ann.request("message.delete", message_id=ack["message_id"])

    received = await drain_all(*members, *outsiders)

    for frames in received[: len(members)]:
        kinds = [f["type"] for f in frames]
        assert kinds == ["message.updated", "reaction.added", "typing", "message.deleted"]
    assert received[len(members) :] == [[], []]


async def test_message_from_rest_reaches_sockets(ws_connect: Connect, team: Any) -> None:
    from rest_framework.test import APIClient

    bob = await ws_connect(team.bob)

    def post() -> int:
        client = APIClient()
        client.force_authenticate(team.ann)
        response = client.post(
            f"/api/v1/channels/{team.channel.pk}/messages/",
            {"body": "over REST", "client_msg_id": str(uuid.uuid4())},
            format="json",
        )
        assert response.status_code == 201, response.content
        return response.json()["message"]["id"]

    message_id = await sync(post)()

    event = await bob.event("message.new")
    assert event["message"]["id"] == message_id


# --- membership changes while connected ----------------------------------------------------------


async def test_removed_member_stops_receiving_the_channel_at_once(
    ws_connect: Connect, team: Any
) -> None:
    ann = await ws_connect(team.ann)
    bob_tabs = [await ws_connect(team.bob), await ws_connect(team.bob, auth="session")]

    await sync(services.channel_remove_member)(
        actor=team.ann, channel_id=team.channel.pk, user_id=team.bob.pk
    )
    ack = await send(ann, team.channel, "after bob left")  # no pause: "at once"

    assert (await ann.event("message.new"))["message"]["id"] == ack["message_id"]
    for bob in bob_tabs:
        left = await bob.event("member.left")
        assert left["user_id"] == team.bob.pk
    await asyncio.gather(*(bob.assert_nothing("message.new") for bob in bob_tabs))
    refused = await bob_tabs[0].ask(send_frame(team.channel, "still here?"))
    assert refused["code"] == "channel_not_found"


async def test_member_who_leaves_stops_receiving(ws_connect: Connect, make_user, make_channel):
    ann, bob = await sync(make_user)(), await sync(make_user)()
    channel = await sync(make_channel)(kind=ChannelKind.PUBLIC, members=(ann, bob))
    ann_socket, bob_socket = await ws_connect(ann), await ws_connect(bob)

    await sync(services.channel_leave)(user=bob, channel_id=channel.pk)
    await send(ann_socket, channel)

    await bob_socket.event("member.left")
    await bob_socket.assert_nothing("message.new")


async def test_invited_user_starts_receiving_without_reconnecting(
    ws_connect: Connect, team: Any
) -> None:
    ann = await ws_connect(team.ann)
    eve = await ws_connect(team.eve)

    await sync(services.channel_invite)(
        actor=team.ann, channel_id=team.channel.pk, user_ids=[team.eve.pk]
    )
    created = await eve.event("channel.created")
    ack = await send(ann, team.channel, "welcome")

    assert created["channel"]["id"] == team.channel.pk
    event = await eve.event("message.new")
    assert event["message"]["id"] == ack["message_id"]
    reply = await eve.ask(send_frame(team.channel, "thanks"))
    assert reply["type"] == "ack"


async def test_joining_a_public_channel_starts_delivery_without_reconnecting(
    ws_connect: Connect, make_user, make_channel
) -> None:
    ann, bob = await sync(make_user)(), await sync(make_user)()
    channel = await sync(make_channel)(kind=ChannelKind.PUBLIC, members=(ann,))
    ann_socket, bob_socket = await ws_connect(ann), await ws_connect(bob)

    await sync(services.channel_join)(user=bob, channel_id=channel.pk)
    joined = await ann_socket.event("member.joined")
    await bob_socket.event("channel.created")
    ack = await send(ann_socket, channel)

    assert joined["user_id"] == bob.pk
    assert (await bob_socket.event("message.new"))["message"]["id"] == ack["message_id"]


async def test_opening_a_direct_message_reaches_both_connected_users(
    ws_connect: Connect, make_user
) -> None:
    ann, bob = await sync(make_user)(), await sync(make_user)()
    ann_socket, bob_socket = await ws_connect(ann), await ws_connect(bob)

    channel = await sync(services.dm_open)(user=ann, user_ids=[bob.pk])
    await bob_socket.event("channel.created")
    ack = await send(ann_socket, channel, "psst")

    assert (await bob_socket.event("message.new"))["message"]["id"] == ack["message_id"]


async def test_invitation_committed_while_the_socket_opens_is_not_lost(
    ws_connect: Connect, team: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The join lands after the socket read its memberships: its control message must still
    # reach the socket (the user group is joined before the memberships are read).
    from apps.chat import consumers

    real_socket_state = consumers._socket_state

    def invite_right_after_reading(**kwargs: Any) -> Any:
        state = real_socket_state(**kwargs)
        if kwargs["user_id"] == team.eve.pk:
            services.channel_invite(
                actor=team.ann, channel_id=team.channel.pk, user_ids=[team.eve.pk]
            )
        return state

    ann = await ws_connect(team.ann)
    monkeypatch.setattr(consumers, "_socket_state", invite_right_after_reading)
    eve = await ws_connect(team.eve)
    # Sent to the user group right after the join control message, so the join is done.
    created = await eve.event("channel.created")
    ack = await send(ann, team.channel, "did you get this?")

    assert created["channel"]["id"] == team.channel.pk

    event = await eve.event("message.new")
    assert event["message"]["id"] == ack["message_id"]


async def test_removal_committed_while_the_socket_opens_takes_effect(
    ws_connect: Connect, team: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from apps.chat import consumers

    real_socket_state = consumers._socket_state

    def remove_right_after_reading(**kwargs: Any) -> Any:
        state = real_socket_state(**kwargs)
        if kwargs["user_id"] == team.bob.pk:
            services.channel_remove_member(
                actor=team.ann, channel_id=team.channel.pk, user_id=team.bob.pk
            )
        return state

    ann = await ws_connect(team.ann)
    monkeypatch.setattr(consumers, "_socket_state", remove_right_after_reading)
    bob = await ws_connect(team.bob)
    await send(ann, team.channel, "bob must not see this")

    await bob.assert_nothing("message.new")


# --- deactivation and log-out --------------------------------------------------------------------


async def test_deactivation_closes_every_socket_of_the_user_within_a_second(
    ws_connect: Connect, team: Any
) -> None:
    ann = await ws_connect(team.ann)
    await watch(ann, team.bob)
    bob_tabs = [await ws_connect(team.bob, auth="session"), await ws_connect(team.bob)]
    await ann.drain()

    await sync(user_deactivate)(user=team.bob)

    for bob in bob_tabs:
        assert await bob.closed(within=1.0) == CLOSE_CODE_DEACTIVATED
    await send(ann, team.channel, "bob is gone")
    for bob in bob_tabs:
        # Closed means closed: nothing more is written to it.
        assert await bob.communicator.receive_nothing(0.3)
        await bob.disconnect()  # the browser completes the close
    offline = await ann.event("presence", where=lambda f: f["user_id"] == team.bob.pk)
    assert offline["status"] == "offline"


async def test_logout_closes_only_the_sockets_of_that_session(
    ws_connect: Connect, team: Any
) -> None:
    from django.conf import settings
    from django.test import Client

    first_key = await sync(session_cookie)(team.bob)
    second_key = await sync(session_cookie)(team.bob)
    first_tabs = [
        await ws_connect(team.bob, auth="session", session_key=first_key) for _ in range(2)
    ]
    second_tab = await ws_connect(team.bob, auth="session", session_key=second_key)
    api_socket = await ws_connect(team.bob, auth="token")

    def log_out_first_session() -> None:
        client = Client()
        client.cookies[settings.SESSION_COOKIE_NAME] = first_key
        client.logout()  # user_logged_out -> accounts.services.session_end

    await sync(log_out_first_session)()

    for tab in first_tabs:
        assert await tab.closed(within=1.0) == CLOSE_CODE_SESSION_ENDED
    await second_tab.assert_open()
    await api_socket.assert_open()


# --- errors are events; the socket stays open ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("{not json", "malformed_frame"),
        ("[1, 2, 3]", "malformed_frame"),
        ("42", "malformed_frame"),
        ('"ping"', "malformed_frame"),
        ("null", "malformed_frame"),
        ('{"v": 1, "type": "message.explode", "ref": "r"}', "unknown_type"),
        ('{"v": 1, "ref": "r"}', "unknown_type"),
        ('{"v": 1, "type": ["ping"], "ref": "r"}', "unknown_type"),
    ],
)
async def test_bad_frame_answers_an_error_event_and_keeps_the_socket_open(
    ws_connect: Connect, user: User, text: str, code: str
) -> None:
    client = await ws_connect(user)

    await client.send_text(text)
    error = await client.event("error")

    assert error["code"] == code
    assert error["ref"] == ("r" if code == "unknown_type" else None)
    await client.assert_open()


async def test_binary_frames_carry_json_too(ws_connect: Connect, user: User) -> None:
    client = await ws_connect(user)

    await client.communicator.send_to(bytes_data=b'{"v": 1, "type": "ping", "ref": 7}')

    assert (await client.reply(7))["type"] == "pong"


async def test_frame_above_the_size_limit_is_refused(
    ws_connect: Connect, user: User, settings: Any
) -> None:
    settings.ENCLAVE_WS_MAX_FRAME_BYTES = 1024
    client = await ws_connect(user)

    await client.send({"type": "ping", "ref": "big", "pad": "x" * 1100})
    too_large = await client.event("error")
    # 700 characters, 1,400 bytes: the limit counts bytes.
    await client.send_text(
        json.dumps({"type": "ping", "ref": "wide", "pad": "é" * 700}, ensure_ascii=False)
    )
    too_wide = await client.event("error")
    small = await client.request("ping", pad="x" * 900)

    assert too_large["code"] == "frame_too_large"
    assert too_wide["code"] == "frame_too_large"
    assert small["type"] == "pong"


async def test_exceeding_the_rate_limit_answers_rate_limited(
    ws_connect: Connect, user: User, settings: Any
) -> None:
    settings.ENCLAVE_WS_RATE_PER_SECOND = 4.0
    settings.ENCLAVE_WS_RATE_BURST = 3
    client = await ws_connect(user)

    for index in range(6):
        await client.send({"type": "ping", "ref": index})
    replies = [await client.reply(index) for index in range(6)]

    assert [r["type"] for r in replies[:3]] == ["pong"] * 3
    assert [r.get("code") for r in replies[3:]] == ["rate_limited"] * 3
    assert [r["ref"] for r in replies] == list(range(6))
    await asyncio.sleep(0.3)
    await client.assert_open()


async def test_malformed_frames_count_against_the_rate_limit(
    ws_connect: Connect, user: User, settings: Any
) -> None:
    settings.ENCLAVE_WS_RATE_PER_SECOND = 4.0
    settings.ENCLAVE_WS_RATE_BURST = 2
    client = await ws_connect(user)

    await client.send_text("{junk")
    await client.send_text("{junk")
    await client.send({"type": "ping", "ref": "p"})

    assert (await client.reply("p"))["code"] == "rate_limited"


@pytest.mark.parametrize("client_msg_id", [None, ""])
async def test_send_without_client_msg_id_is_refused(
    ws_connect: Connect, team: Any, client_msg_id: str | None
) -> None:
    ann = await ws_connect(team.ann)
    frame = send_frame(team.channel)
    frame["client_msg_id"] = client_msg_id

    reply = await ann.ask(frame)

    assert reply["code"] == "client_msg_id_required"
    await ann.assert_open()


async def test_send_with_a_client_msg_id_that_is_not_a_uuid_is_refused(
    ws_connect: Connect, team: Any
) -> None:
    ann = await ws_connect(team.ann)

    reply = await ann.ask({**send_frame(team.channel), "client_msg_id": "not-a-uuid"})

    assert reply["code"] == "invalid_client_msg_id"


async def test_a_refused_send_is_explained_in_the_senders_language(
    ws_connect: Connect, team: Any
) -> None:
    team.ann.language = "zh-hans"
    await database_sync_to_async(team.ann.save)(update_fields=["language"])
    ann = await ws_connect(team.ann)

    reply = await ann.ask({**send_frame(team.channel), "channel_id": "1"})

    assert reply["code"] == "invalid_field"
    assert not reply["message"].isascii(), reply["message"]
    reply = await ann.ask({**send_frame(team.channel), "client_msg_id": "not-a-uuid"})
    assert reply["code"] == "invalid_client_msg_id"
    assert not reply["message"].isascii(), reply["message"]
    assert translation.get_language() == "en"


WRONG_TYPES: list[tuple[str, dict[str, Any], str]] = [
    ("message.send", {"channel_id": "1"}, "channel_id"),
    ("message.send", {"body": 5}, "body"),
    ("message.send", {"client_msg_id": 123}, "client_msg_id"),
    ("message.send", {"thread_root_id": "7"}, "thread_root_id"),
    ("message.edit", {"message_id": "1", "body": "x"}, "message_id"),
    ("message.edit", {"message_id": 1, "body": None}, "body"),
    ("message.delete", {"message_id": True}, "message_id"),
    ("reaction.add", {"message_id": 1, "emoji": 1}, "emoji"),
    ("reaction.remove", {"message_id": 1.5, "emoji": "x"}, "message_id"),
    ("read.mark", {"channel_id": 1, "seq": "3"}, "seq"),
    ("typing", {"channel_id": None}, "channel_id"),
    ("typing", {"channel_id": 1, "thread_root_id": [1]}, "thread_root_id"),
    ("presence.set", {"status": 1}, "status"),
]


@pytest.mark.parametrize(("op_type", "fields", "field"), WRONG_TYPES)
async def test_field_of_the_wrong_type_answers_invalid_field(
    ws_connect: Connect, team: Any, op_type: str, fields: dict[str, Any], field: str
) -> None:
    ann = await ws_connect(team.ann)
    frame = send_frame(team.channel) if op_type == "message.send" else {"type": op_type}

    reply = await ann.ask({**frame, **fields})

    assert reply["code"] == "invalid_field", reply
    assert reply["details"] == {"field": field}
    await ann.assert_open()


async def test_unexpected_failure_answers_internal_error_and_keeps_the_socket(
    ws_connect: Connect, team: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**kwargs: Any) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "typing_notify", broken)
    ann = await ws_connect(team.ann)
    ann.allow_internal_error = True

    reply = await ann.request("typing", channel_id=team.channel.pk)

    assert reply["code"] == "internal_error"
    await ann.assert_open()


async def test_a_send_while_the_database_is_away_answers_unavailable_for_a_retry(
    ws_connect: Connect, team: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real thing (a PostgreSQL stopped and restarted under load) is tests/load/test_chaos.py.
    stored = services.messages_send_batch
    away = [True]

    def batch(**kwargs: Any) -> Any:
        if away[0]:
            raise OperationalError("connection to server failed: Connection refused")
        return stored(**kwargs)

    monkeypatch.setattr(services, "messages_send_batch", batch)
    ann = await ws_connect(team.ann)
    frame = send_frame(team.channel)

    reply = await ann.ask(frame)
    away[0] = False
    again = await ann.ask(frame)

    assert reply["code"] == "unavailable", reply
    assert reply["details"] == {"retry_after_ms": 1000}
    assert again["type"] == "ack", again
    assert again["duplicate"] is False
    await ann.assert_open()


# --- presence ------------------------------------------------------------------------------------


async def watch(client: WsClient, *users: User) -> dict[str, Any]:
    """Watch these users' presence from `client` (presence is pushed to watchers only)."""
    ack = await client.request("presence.subscribe", user_ids=[u.pk for u in users])
    assert ack["type"] == "ack", ack
    return ack


def presence_of(user: User) -> Callable[[dict[str, Any]], bool]:
    return lambda frame: frame["user_id"] == user.pk


async def test_presence_stays_online_until_the_last_tab_closes(
    ws_connect: Connect, team: Any
) -> None:
    ann = await ws_connect(team.ann)
    await watch(ann, team.bob)
    first = await ws_connect(team.bob)
    second = await ws_connect(team.bob, auth="session")
    online = await ann.event("presence", where=presence_of(team.bob))
    await ann.drain()

    await first.disconnect()
    await ann.assert_nothing("presence")
    await second.disconnect()
    offline = await ann.event("presence", where=presence_of(team.bob))

    assert online["status"] == "online"
    assert offline["status"] == "offline"


async def test_presence_is_away_when_every_tab_is_away(ws_connect: Connect, team: Any) -> None:
    ann = await ws_connect(team.ann)
    await watch(ann, team.bob)
    tabs = [await ws_connect(team.bob), await ws_connect(team.bob)]
    await ann.event("presence", where=presence_of(team.bob))
    await ann.drain()

    assert (await tabs[0].request("presence.set", status="away"))["type"] == "ack"
    await ann.assert_nothing("presence")
    assert (await tabs[1].request("presence.set", status="away"))["type"] == "ack"
    away = await ann.event("presence", where=presence_of(team.bob))
    await tabs[0].request("presence.set", status="online")
    back = await ann.event("presence", where=presence_of(team.bob))

    assert away["status"] == "away"
    assert back["status"] == "online"


async def test_presence_reaches_watchers_only(ws_connect: Connect, team: Any) -> None:
    ann, eve = await ws_connect(team.ann), await ws_connect(team.eve)
    await watch(ann, team.bob)
    await drain_all(ann, eve)

    bob = await ws_connect(team.bob)

    online = await ann.event("presence", where=presence_of(team.bob))
    assert online["status"] == "online"
    await eve.assert_nothing("presence")  # nobody broadcasts presence to the whole org
    await bob.disconnect()
    assert (await ann.event("presence", where=presence_of(team.bob)))["status"] == "offline"


async def test_presence_subscribe_answers_statuses_and_replaces_the_watch_list(
    ws_connect: Connect, team: Any
) -> None:
    bob = await ws_connect(team.bob)
    ann = await ws_connect(team.ann)

    ack = await watch(ann, team.bob, team.eve)
    assert ack["statuses"] == {str(team.bob.pk): "online", str(team.eve.pk): "offline"}
    assert (await watch(ann, team.eve))["statuses"] == {str(team.eve.pk): "offline"}
    await ann.drain()
    assert (await bob.request("presence.set", status="away"))["type"] == "ack"
    await ann.assert_nothing("presence")  # bob is no longer watched


async def test_a_guest_cannot_watch_people_outside_their_channels(
    ws_connect: Connect, team: Any, make_user: Callable[..., User]
) -> None:
    guest = await sync(make_user)(role=Role.GUEST)
    watcher = await ws_connect(guest)
    ack = await watch(watcher, team.bob)
    await watcher.drain()

    bob = await ws_connect(team.bob)
    await bob.disconnect()

    assert ack["statuses"] == {}
    assert not [f for f in await watcher.drain() if f["type"] == "presence"]


async def test_own_presence_reaches_the_users_other_tabs(ws_connect: Connect, team: Any) -> None:
    first = await ws_connect(team.bob)
    second = await ws_connect(team.bob)
    await drain_all(first, second)

    assert (await first.request("presence.set", status="away"))["type"] == "ack"
    assert (await second.request("presence.set", status="away"))["type"] == "ack"

    assert (await first.event("presence", where=presence_of(team.bob)))["status"] == "away"


@pytest.mark.parametrize("user_ids", [None, "1,2", [1, "2"], [True], list(range(1, 1003))], ids=str)
async def test_presence_subscribe_refuses_bad_lists(
    ws_connect: Connect, team: Any, user_ids: Any
) -> None:
    ann = await ws_connect(team.ann)

    reply = await ann.ask({"type": "presence.subscribe", "user_ids": user_ids, "ref": "w"})

    assert (reply["type"], reply["code"], reply["details"]) == (
        "error",
        "invalid_field",
        {"field": "user_ids"},
    )


async def test_disconnect_during_the_handshake_leaves_no_presence_behind(
    ws_connect: Connect, team: Any
) -> None:
    from tests.ws import api_token

    raw = await sync(api_token)(team.bob)
    communicator = WebsocketCommunicator(
        application(), "/ws/", headers=[(b"authorization", f"Bearer {raw}".encode())]
    )
    # The tab goes away while the server is still opening it: Channels delivers the disconnect
    # once connect() has finished, and the consumer must undo all of it.
    await communicator.send_input({"type": "websocket.connect"})
    await communicator.send_input({"type": "websocket.disconnect", "code": 1001})
    await communicator.wait(timeout=1)
    status = await sync(lambda: presence.presence_store().user_status(team.bob.pk))()

    assert status == presence.OFFLINE


async def test_open_tab_stays_present_past_the_presence_ttl(
    ws_connect: Connect, team: Any, settings: Any
) -> None:
    # Each tab's presence entry expires after the TTL; the process keeps its open tabs'
    # entries alive without the tab sending anything.
    settings.ENCLAVE_PRESENCE_TTL_SECONDS = 1
    bob = await ws_connect(team.bob)

    await asyncio.sleep(1.6)
    await bob.assert_open()
    status = await sync(lambda: presence.presence_store().user_status(team.bob.pk))()

    assert status == presence.ONLINE


# --- typing and read state -----------------------------------------------------------------------


async def test_typing_reaches_the_other_members_only(ws_connect: Connect, team: Any) -> None:
    ann = await ws_connect(team.ann)
    bob = await ws_connect(team.bob)
    eve = await ws_connect(team.eve)
    await eve.drain()

    ack = await ann.request("typing", channel_id=team.channel.pk)
    typing = await bob.event("typing")

    assert ack["type"] == "ack"
    assert typing["user_id"] == team.ann.pk
    assert typing["channel_id"] == team.channel.pk
    assert typing["thread_root_id"] is None
    await eve.assert_nothing()


async def test_read_mark_reaches_the_readers_other_tabs(ws_connect: Connect, team: Any) -> None:
    ann = await ws_connect(team.ann)
    await send(ann, team.channel, "one")
    await send(ann, team.channel, "two")
    bob_tabs = [await ws_connect(team.bob), await ws_connect(team.bob)]

    ack = await bob_tabs[0].request("read.mark", channel_id=team.channel.pk, seq=2)
    read = await bob_tabs[1].event("read")

    assert ack["last_read_seq"] == 2
    assert read == {"v": 1, "type": "read", "channel_id": team.channel.pk, "last_read_seq": 2}
    await ann.assert_nothing("read")


# --- self-repair when control messages are lost --------------------------------------------------


def test_sockets_opened_together_recheck_at_different_times(settings: Any) -> None:
    settings.ENCLAVE_WS_RECHECK_SECONDS = 300
    sockets = [ClientConsumer() for _ in range(200)]
    opened = time.monotonic()
    for socket in sockets:
        socket._schedule_heartbeats()

    due_in = [socket.recheck_due - opened for socket in sockets]
    assert min(due_in) >= 150  # at most every interval, at least every half
    assert max(due_in) <= 300 + 1
    assert max(due_in) - min(due_in) > 100  # spread, not all in the same seconds


async def test_lost_leave_is_repaired_by_the_heartbeat(
    ws_connect: Connect, team: Any, settings: Any
) -> None:
    settings.ENCLAVE_WS_RECHECK_SECONDS = 0.3
    ann = await ws_connect(team.ann)
    bob = await ws_connect(team.bob)
    # Removed without the control message, as if the channel layer had dropped it.
    await sync(Membership.objects.filter(user=team.bob, channel=team.channel).delete)()

    await asyncio.sleep(0.4)
    await bob.assert_open()  # due: the heartbeat runs after this pong...
    await bob.assert_open()  # ...and is over when the next frame is answered
    await send(ann, team.channel, "private again")

    await bob.assert_nothing("message.new")


async def test_lost_join_is_repaired_by_the_heartbeat(
    ws_connect: Connect, team: Any, settings: Any
) -> None:
    settings.ENCLAVE_WS_RECHECK_SECONDS = 0.3
    ann = await ws_connect(team.ann)
    eve = await ws_connect(team.eve)
    await sync(MembershipFactory)(channel=team.channel, user=team.eve)

    await asyncio.sleep(0.4)
    await eve.assert_open()  # due: the heartbeat runs after this pong...
    await eve.assert_open()  # ...and is over when the next frame is answered
    ack = await send(ann, team.channel, "now you see it")

    assert (await eve.event("message.new"))["message"]["id"] == ack["message_id"]


async def test_lost_close_is_repaired_by_the_heartbeat(
    ws_connect: Connect, team: Any, settings: Any
) -> None:
    settings.ENCLAVE_WS_RECHECK_SECONDS = 0.3
    bob = await ws_connect(team.bob)
    await sync(User.objects.filter(pk=team.bob.pk).update)(is_active=False)

    await asyncio.sleep(0.4)
    await bob.send({"type": "ping", "ref": "last"})

    assert await bob.closed(within=1.0) == CLOSE_CODE_DEACTIVATED


async def test_session_that_ended_unannounced_is_closed_by_the_heartbeat(
    ws_connect: Connect, team: Any, settings: Any
) -> None:
    # Expired or deleted without a log-out (no control message): the browser tab closes too.
    from django.contrib.sessions.models import Session

    settings.ENCLAVE_WS_RECHECK_SECONDS = 0.3
    key = await sync(session_cookie)(team.bob)
    browser = await ws_connect(team.bob, auth="session", session_key=key)
    api_client = await ws_connect(team.bob, auth="token")
    await sync(Session.objects.filter(session_key=key).delete)()

    await asyncio.sleep(0.4)
    await browser.send({"type": "ping", "ref": "last"})
    await api_client.assert_open()
    await api_client.assert_open()

    assert await browser.closed(within=1.0) == CLOSE_CODE_SESSION_ENDED
