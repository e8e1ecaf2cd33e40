"""One rule per input on both paths: each operation's REST body and its `/ws/` frame are
validated by the same serializer (apps/chat/serializers.py; docs/architecture/realtime.md,
"One rule per input"), so every refusal below happens on both, and the frames and bodies
the web client sends pass on both.

REST answers a refused field `400 invalid` with the field in `details`; the socket answers
the code the field gives its failure (`client_msg_id_required`, `invalid_seq`, ...) or
`invalid_field` naming it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from channels.db import database_sync_to_async
from rest_framework.test import APIClient

from apps.accounts.models import User
from apps.chat import services
from apps.chat.models import Channel, ChannelKind, Message
from tests.ws import WsClient

pytestmark = pytest.mark.django_db(transaction=True)

Connect = Callable[..., Awaitable[WsClient]]
ABSENT = object()


@dataclass(frozen=True)
class Room:
    ann: User
    channel: Channel
    message: Message


@pytest.fixture
def room(make_user: Callable[..., User], make_channel: Callable[..., Channel]) -> Room:
    ann = make_user()
    channel = make_channel(kind=ChannelKind.PRIVATE, admins=(ann,))
    sent = services.message_send(
        sender=ann, channel_id=channel.pk, body="first", client_msg_id=str(uuid.uuid4())
    )
    return Room(ann, channel, sent.message)


@dataclass(frozen=True)
class Operation:
    """An operation as the web client sends it over REST and over the socket."""

    ws_type: str
    method: str
    path: str  # {channel} and {message} filled from the room
    body: Callable[[], dict[str, Any]]
    frame_ids: tuple[str, ...] = ("channel_id",)


def _send_body() -> dict[str, Any]:
    return {"body": "hello", "client_msg_id": str(uuid.uuid4()), "attachment_ids": []}


OPERATIONS = {
    "message.send": Operation(
        "message.send", "post", "/api/v1/channels/{channel}/messages/", _send_body
    ),
    "message.edit": Operation(
        "message.edit",
        "patch",
        "/api/v1/messages/{message}/",
        lambda: {"body": "edited"},
        ("message_id",),
    ),
    "reaction.add": Operation(
        "reaction.add",
        "post",
        "/api/v1/messages/{message}/reactions/",
        lambda: {"emoji": "👍"},
        ("message_id",),
    ),
    "read.mark": Operation(
        "read.mark", "post", "/api/v1/channels/{channel}/read/", lambda: {"seq": 1}
    ),
    "typing": Operation("typing", "post", "/api/v1/channels/{channel}/typing/", lambda: {}),
}


@dataclass(frozen=True)
class Rule:
    name: str
    operation: str
    fields: dict[str, Any]
    field: str  # the field REST names in details
    ws_code: str
    ws_details: dict[str, Any] = field(default_factory=dict)


def _invalid(name: str, operation: str, fields: dict[str, Any], field_name: str) -> Rule:
    return Rule(name, operation, fields, field_name, "invalid_field", {"field": field_name})


RULES = [
    # The client picks client_msg_id, on both paths (REST took a send without one).
    Rule(
        "client_msg_id_missing",
        "message.send",
        {"client_msg_id": ABSENT},
        "client_msg_id",
        "client_msg_id_required",
    ),
    Rule(
        "client_msg_id_null",
        "message.send",
        {"client_msg_id": None},
        "client_msg_id",
        "client_msg_id_required",
    ),
    Rule(
        "client_msg_id_blank",
        "message.send",
        {"client_msg_id": ""},
        "client_msg_id",
        "client_msg_id_required",
    ),
    Rule(
        "client_msg_id_not_a_uuid",
        "message.send",
        {"client_msg_id": "not-a-uuid"},
        "client_msg_id",
        "invalid_client_msg_id",
    ),
    # JSON types as sent: REST took 123 as a UUID, 5 as the text "5", "7" as the integer 7.
    _invalid("client_msg_id_integer", "message.send", {"client_msg_id": 123}, "client_msg_id"),
    _invalid("body_number", "message.send", {"body": 5}, "body"),
    _invalid("thread_root_id_string", "message.send", {"thread_root_id": "7"}, "thread_root_id"),
    _invalid("edit_body_number", "message.edit", {"body": 5}, "body"),
    _invalid("read_seq_string", "read.mark", {"seq": "3"}, "seq"),
    _invalid("typing_thread_root_id_string", "typing", {"thread_root_id": "1"}, "thread_root_id"),
    # Files: a list of at most 50 UUIDs (the socket passed any strings on to the service).
    _invalid(
        "attachment_ids_not_uuids", "message.send", {"attachment_ids": ["nope"]}, "attachment_ids"
    ),
    _invalid(
        "attachment_ids_over_50",
        "message.send",
        {"attachment_ids": [str(uuid.uuid4()) for _ in range(51)]},
        "attachment_ids",
    ),
    _invalid(
        "attachment_ids_not_a_list", "message.send", {"attachment_ids": "x"}, "attachment_ids"
    ),
    # A read position is not negative.
    Rule("read_seq_negative", "read.mark", {"seq": -1}, "seq", "invalid_seq"),
    # An emoji is 1 to 64 characters.
    Rule("emoji_blank", "reaction.add", {"emoji": "  "}, "emoji", "invalid_emoji"),
    Rule("emoji_too_long", "reaction.add", {"emoji": "x" * 65}, "emoji", "invalid_emoji"),
]


def _with(base: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    merged = {**base, **fields}
    return {key: value for key, value in merged.items() if value is not ABSENT}


def _rest(room: Room, operation: Operation, body: dict[str, Any]) -> Any:
    client = APIClient()
    client.force_authenticate(room.ann)
    path = operation.path.format(channel=room.channel.pk, message=room.message.pk)
    return getattr(client, operation.method)(path, body, format="json")


def _frame(room: Room, operation: Operation, body: dict[str, Any]) -> dict[str, Any]:
    ids = {"channel_id": room.channel.pk, "message_id": room.message.pk}
    return {"type": operation.ws_type, **{name: ids[name] for name in operation.frame_ids}, **body}


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_what_the_web_client_sends_passes_over_rest(room: Room, name: str) -> None:
    operation = OPERATIONS[name]

    response = _rest(room, operation, operation.body())

    assert response.status_code in (200, 201, 204), response.content


@pytest.mark.parametrize("name", list(OPERATIONS))
async def test_what_the_web_client_sends_passes_over_the_socket(
    ws_connect: Connect, room: Room, name: str
) -> None:
    operation = OPERATIONS[name]
    socket = await ws_connect(room.ann)

    reply = await socket.ask(_frame(room, operation, operation.body()))

    assert reply["type"] == "ack", reply


@pytest.mark.parametrize("rule", RULES, ids=[rule.name for rule in RULES])
def test_rule_refuses_over_rest(room: Room, rule: Rule) -> None:
    operation = OPERATIONS[rule.operation]
    stored = Message.objects.count()

    response = _rest(room, operation, _with(operation.body(), rule.fields))

    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid", body
    assert any(key.split(".")[0] == rule.field for key in body["details"]), body
    assert Message.objects.count() == stored


@pytest.mark.parametrize("rule", RULES, ids=[rule.name for rule in RULES])
async def test_rule_refuses_over_the_socket(ws_connect: Connect, room: Room, rule: Rule) -> None:
    operation = OPERATIONS[rule.operation]
    socket = await ws_connect(room.ann)
    stored = await database_sync_to_async(Message.objects.count)()

    reply = await socket.ask(_frame(room, operation, _with(operation.body(), rule.fields)))

    assert (reply["type"], reply["code"]) == ("error", rule.ws_code), reply
    assert reply["details"] == rule.ws_details
    assert await database_sync_to_async(Message.objects.count)() == stored
    await socket.assert_open()
