"""Slash commands: the registry, the REST and WebSocket send paths, the built-ins and their
permissions, polls with live counts, autocomplete listing, custom commands (signed HTTP)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.urls import reverse
from rest_framework.test import APIClient

from apps.accounts.models import Role, User
from apps.chat import commands
from apps.chat import services as chat_services
from apps.chat.commands import CommandContext, CommandResult, register_command
from apps.chat.models import ChannelKind, Membership, Message
from apps.integrations import services, signing
from apps.integrations.models import Poll, PollVote
from tests.factories import UserFactory
from tests.integrations.conftest import Setup
from tests.integrations.http_server import LoopbackServer, Received

pytestmark = pytest.mark.django_db


def _send(user: User, channel_id: int, body: str, **extra: Any) -> Any:
    client = APIClient()
    client.force_authenticate(user)
    return client.post(
        reverse("chat_api:messages", kwargs={"channel_id": channel_id}),
        {"body": body, "client_msg_id": str(uuid.uuid4()), **extra},
        format="json",
    )


@pytest.fixture
def echo_command() -> Iterator[None]:
    """A test command registered like another app's (`/remind` by the reminders helper)."""

    def handler(ctx: CommandContext) -> CommandResult:
        return CommandResult(ephemeral=f"echo:{ctx.args}:{ctx.channel.pk}:{ctx.client_msg_id}")

    register_command("echo-test", handler=handler, description="Echo", usage="/echo-test x")
    yield
    commands._COMMANDS.pop("echo-test", None)


def test_registered_command_runs_instead_of_posting(setup: Setup, echo_command: None) -> None:
    before = Message.objects.count()
    msg_id = str(uuid.uuid4())
    response = _send(setup.alice, setup.channel.pk, "/echo-test hi there", client_msg_id=msg_id)

    assert response.status_code == 200, response.content
    assert response.json() == {
        "command": "echo-test",
        "ephemeral": f"echo:hi there:{setup.channel.pk}:{msg_id}",
        "duplicate": False,
        "message": None,
    }
    assert Message.objects.count() == before


def test_unregistered_slash_text_is_posted(setup: Setup) -> None:
    response = _send(setup.alice, setup.channel.pk, "/usr/bin is a path")
    assert response.status_code == 201
    assert response.json()["message"]["body"] == "/usr/bin is a path"


def test_registering_a_name_twice_is_an_error(echo_command: None) -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_command("echo-test", handler=lambda ctx: CommandResult(), description="", usage="")


def test_command_needs_channel_membership(setup: Setup, echo_command: None) -> None:
    outsider = UserFactory(username="carol")
    response = _send(outsider, setup.channel.pk, "/echo-test x")
    assert (response.status_code, response.json()["code"]) == (403, "not_member")


def test_builtins_are_hidden_without_the_flag(setup: Setup) -> None:
    from django.core.cache import cache

    from apps.ops.models import FeatureFlag

    FeatureFlag.objects.filter(name="integrations").update(everyone=False)
    cache.clear()
    response = _send(setup.alice, setup.channel.pk, "/me waves")
    assert response.status_code == 201  # posted as plain text: the command does not exist
    assert response.json()["message"]["body"] == "/me waves"


def test_me_posts_an_action_message(setup: Setup) -> None:
    response = _send(setup.alice, setup.channel.pk, "/me waves")
    assert response.status_code == 201, response.content
    assert response.json()["command"] == "me"
    assert response.json()["message"]["body"] == f"_{setup.alice.name} waves_"


def test_me_resend_is_idempotent(setup: Setup) -> None:
    msg_id = str(uuid.uuid4())
    first = _send(setup.alice, setup.channel.pk, "/me waves", client_msg_id=msg_id)
    again = _send(setup.alice, setup.channel.pk, "/me waves", client_msg_id=msg_id)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["duplicate"] is True
    assert again.json()["message"]["id"] == first.json()["message"]["id"]


def test_mute_and_unmute(setup: Setup) -> None:
    muted = _send(setup.alice, setup.channel.pk, "/mute")
    assert muted.status_code == 200
    assert Membership.objects.get(channel=setup.channel, user=setup.alice).is_muted
    _send(setup.alice, setup.channel.pk, "/mute off")
    assert not Membership.objects.get(channel=setup.channel, user=setup.alice).is_muted


def test_topic_needs_channel_management(setup: Setup) -> None:
    refused = _send(setup.alice, setup.channel.pk, "/topic Lunch at noon")
    assert (refused.status_code, refused.json()["code"]) == (403, "not_channel_admin")
    allowed = _send(setup.admin, setup.channel.pk, "/topic Lunch at noon")
    assert allowed.status_code == 200
    setup.channel.refresh_from_db()
    assert setup.channel.topic == "Lunch at noon"


def test_invite_adds_people_where_the_user_may(setup: Setup) -> None:
    carol = UserFactory(username="carol")
    response = _send(setup.alice, setup.channel.pk, "/invite @carol")
    assert response.status_code == 200, response.content
    assert Membership.objects.filter(channel=setup.channel, user=carol).exists()


def test_invite_refused_in_private_channel_for_plain_member(setup: Setup) -> None:
    private = chat_services.channel_create(
        creator=setup.admin, kind=ChannelKind.PRIVATE, name="board", member_ids=[setup.alice.pk]
    )
    carol = UserFactory(username="carol")
    response = _send(setup.alice, private.pk, "/invite @carol")
    assert (response.status_code, response.json()["code"]) == (403, "cannot_invite")
    assert not Membership.objects.filter(channel=private, user=carol).exists()


def test_invite_unknown_user_is_400(setup: Setup) -> None:
    response = _send(setup.alice, setup.channel.pk, "/invite @nobody")
    assert (response.status_code, response.json()["code"]) == (400, "unknown_user")


def test_guest_cannot_invite(setup: Setup) -> None:
    guest = UserFactory(username="gus", role=Role.GUEST)
    chat_services.channel_invite(
        actor=setup.admin, channel_id=setup.channel.pk, user_ids=[guest.pk]
    )
    UserFactory(username="carol")
    response = _send(guest, setup.channel.pk, "/invite @carol")
    assert response.status_code == 403


def test_poll_posts_a_message_with_options_and_counts_votes(setup: Setup) -> None:
    response = _send(setup.alice, setup.channel.pk, '/poll "Lunch?" "Noodles" "Rice"')
    assert response.status_code == 200, response.content
    poll = Poll.objects.get()
    assert poll.question == "Lunch?"
    assert poll.message.body == "📊 **Lunch?**\n1. Noodles\n2. Rice"
    rice = poll.options.get(text="Rice")
    services.poll_vote(user=setup.bob, poll_id=poll.pk, option_id=rice.pk)
    services.poll_vote(user=setup.alice, poll_id=poll.pk, option_id=rice.pk)
    noodles = poll.options.get(text="Noodles")
    services.poll_vote(user=setup.alice, poll_id=poll.pk, option_id=noodles.pk)  # moves
    from apps.integrations.events import poll_payload

    counts = {o["text"]: o["votes"] for o in poll_payload(poll)["options"]}
    assert counts == {"Noodles": 1, "Rice": 1}
    assert PollVote.objects.count() == 2


def test_poll_needs_two_answers(setup: Setup) -> None:
    response = _send(setup.alice, setup.channel.pk, '/poll "Lunch?" "Noodles"')
    assert (response.status_code, response.json()["code"]) == (400, "invalid_poll")


def test_commands_list_for_autocomplete(setup: Setup, echo_command: None) -> None:
    client = APIClient()
    client.force_authenticate(setup.alice)
    names = [c["name"] for c in client.get(reverse("chat_api:commands")).json()]
    assert {"me", "mute", "invite", "topic", "poll", "echo-test"} <= set(names)
    assert names == sorted(names)


@pytest.mark.django_db(transaction=True)
def test_poll_vote_publishes_live_counts(
    setup: Setup, captured_events: list[dict[str, Any]]
) -> None:
    poll = services.poll_create(
        user=setup.alice, channel_id=setup.channel.pk, question="Q", options=["A", "B"]
    )
    option = poll.options.first()
    assert option is not None
    services.poll_vote(user=setup.bob, poll_id=poll.pk, option_id=option.pk)
    updates = [e for e in captured_events if e["type"] == "poll.updated"]
    assert updates[-1]["poll"]["options"][0]["votes"] == 1
    assert updates[-1]["topics"] == [f"chan.{setup.channel.pk}"]


# --- the WebSocket send path ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_websocket_send_runs_the_command(ws_connect: Any, setup: Setup) -> None:
    client = await ws_connect(setup.alice)
    before = await database_sync_to_async(Message.objects.count)()
    ack = await client.ask(
        {
            "type": "message.send",
            "channel_id": setup.channel.pk,
            "body": "/mute",
            "client_msg_id": str(uuid.uuid4()),
        }
    )
    assert ack["type"] == "ack", ack
    assert ack["command"] == "mute"
    assert "muted" in ack["ephemeral"]
    assert await database_sync_to_async(Message.objects.count)() == before


@pytest.mark.django_db(transaction=True)
async def test_websocket_command_refusal_is_an_error_event(ws_connect: Any, setup: Setup) -> None:
    client = await ws_connect(setup.alice)
    reply = await client.ask(
        {
            "type": "message.send",
            "channel_id": setup.channel.pk,
            "body": "/topic secret plans",
            "client_msg_id": str(uuid.uuid4()),
        }
    )
    assert reply["type"] == "error"
    assert reply["code"] == "not_channel_admin"


@pytest.mark.django_db(transaction=True)
async def test_websocket_me_posts_through_the_send_service(ws_connect: Any, setup: Setup) -> None:
    client = await ws_connect(setup.alice)
    ack = await client.ask(
        {
            "type": "message.send",
            "channel_id": setup.channel.pk,
            "body": "/me waves",
            "client_msg_id": str(uuid.uuid4()),
        }
    )
    assert ack["type"] == "ack", ack
    event = await client.event("message.new")
    assert event["message"]["id"] == ack["message_id"]
    assert event["message"]["body"] == f"_{setup.alice.name} waves_"


# --- custom commands ------------------------------------------------------------------------------


def test_custom_command_calls_the_endpoint_signed_and_posts_in_channel(
    setup: Setup,
    loopback_server: LoopbackServer,
    loopback_allowed: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    def answer(request: Received) -> tuple[int, dict[str, str], bytes]:
        return (
            200,
            {"Content-Type": "application/json"},
            json.dumps(
                {
                    "response_type": "in_channel",
                    "text": "Deployed " + json.loads(request.body)["text"],
                }
            ).encode(),
        )

    loopback_server.route("/deploy", answer)
    command = services.custom_command_create(
        actor=setup.admin,
        name="deploy",
        description="Deploy a service",
        url=loopback_server.url("/deploy"),
        bot_id=setup.bot.pk,
    )
    chat_services.channel_invite(
        actor=setup.admin, channel_id=setup.channel.pk, user_ids=[setup.bot.user_id]
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = _send(setup.alice, setup.channel.pk, "/deploy billing")
    assert response.status_code == 200, response.content
    assert response.json()["ephemeral"] == "Running /deploy…"
    received = loopback_server.requests[0]
    assert json.loads(received.body)["user_name"] == "alice"
    assert signing.verify(
        secret=command.signing_secret,
        timestamp=received.headers["x-enclave-request-timestamp"],
        signature_header=received.headers["x-enclave-signature"],
        body=received.body,
    )
    reply = Message.objects.filter(channel=setup.channel).latest("seq")
    assert (reply.sender_id, reply.body) == (setup.bot.user_id, "Deployed billing")


@pytest.mark.django_db(transaction=True)
def test_custom_command_answer_is_private_when_the_bot_is_not_a_member(
    setup: Setup,
    loopback_server: LoopbackServer,
    loopback_allowed: None,
    captured_events: list[dict[str, Any]],
) -> None:
    loopback_server.route(
        "/deploy",
        lambda r: (200, {}, json.dumps({"response_type": "in_channel", "text": "Done"}).encode()),
    )
    services.custom_command_create(
        actor=setup.admin,
        name="deploy",
        description="Deploy",
        url=loopback_server.url("/deploy"),
        bot_id=setup.bot.pk,
    )
    before = Message.objects.count()
    _send(setup.alice, setup.channel.pk, "/deploy billing")
    assert Message.objects.count() == before
    private = [e for e in captured_events if e["type"] == "command.response"]
    assert private[-1]["topics"] == [f"user.{setup.alice.pk}"]
    assert private[-1]["text"].startswith("Done\n")


@pytest.mark.django_db(transaction=True)
def test_custom_command_to_private_address_fails_without_allow_list(
    setup: Setup,
    loopback_server: LoopbackServer,
    captured_events: list[dict[str, Any]],
) -> None:
    services.custom_command_create(
        actor=setup.admin,
        name="deploy",
        description="Deploy",
        url=loopback_server.url("/deploy"),
        bot_id=setup.bot.pk,
    )
    _send(setup.alice, setup.channel.pk, "/deploy billing")
    assert loopback_server.requests == []
    failure = [e for e in captured_events if e["type"] == "command.response"][-1]
    assert failure["text"].startswith("/deploy failed:")


def test_only_admins_define_custom_commands(setup: Setup) -> None:
    from apps.core.errors import Forbidden

    with pytest.raises(Forbidden):
        services.custom_command_create(
            actor=setup.alice,
            name="x",
            description="x",
            url="http://example.com/",
            bot_id=setup.bot.pk,
        )


def test_custom_command_cannot_shadow_a_builtin(setup: Setup) -> None:
    from apps.core.errors import InvalidInput

    with pytest.raises(InvalidInput):
        services.custom_command_create(
            actor=setup.admin,
            name="poll",
            description="x",
            url="http://e.com/",
            bot_id=setup.bot.pk,
        )
