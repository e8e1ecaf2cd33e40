"""REST behaviour of the chat API: idempotent sends, convergence, query counts, output shapes."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import resolve, reverse
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from apps.accounts.models import User
from apps.chat import serializers, services
from apps.chat.models import Channel, ChannelKind, Message
from tests.api_matrix import MATRIX, build_world, call
from tests.chat.support import send

pytestmark = pytest.mark.django_db

MakeUser = Callable[..., User]
Payload = dict[str, Any]


def client_of(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def messages_url(channel: Channel) -> str:
    return reverse("chat_api:messages", kwargs={"channel_id": channel.pk})


def message_url(message_id: int, name: str = "chat_api:message") -> str:
    return reverse(name, kwargs={"message_id": message_id})


# --- idempotent sending --------------------------------------------------------------------------


def test_same_client_msg_id_posted_100_times_stores_one_message(
    alice: User, general: Channel
) -> None:
    client = client_of(alice)
    body = {"body": "exactly once", "client_msg_id": str(uuid.uuid4())}

    responses = [client.post(messages_url(general), body, format="json") for _ in range(100)]

    assert [r.status_code for r in responses] == [201] + [200] * 99
    assert {r.json()["message"]["id"] for r in responses} == {responses[0].json()["message"]["id"]}
    assert [r.json()["duplicate"] for r in responses[:2]] == [False, True]
    assert Message.objects.filter(channel=general).count() == 1


def test_client_msg_id_reused_in_another_channel_conflicts(alice: User, general: Channel) -> None:
    other = services.channel_create(creator=alice, kind=ChannelKind.PUBLIC, name="other")
    client = client_of(alice)
    body = {"body": "hello", "client_msg_id": str(uuid.uuid4())}
    client.post(messages_url(general), body, format="json")

    response = client.post(messages_url(other), body, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "client_msg_id_reused"
    assert not Message.objects.filter(channel=other).exists()


def test_send_refuses_malformed_client_msg_id(alice: User, general: Channel) -> None:
    response = client_of(alice).post(
        messages_url(general), {"body": "hi", "client_msg_id": "nope"}, format="json"
    )

    assert (response.status_code, response.json()["code"]) == (400, "invalid")
    assert "client_msg_id" in response.json()["details"]


def test_blank_message_is_refused_with_domain_code(alice: User, general: Channel) -> None:
    response = client_of(alice).post(
        messages_url(general), {"body": "   ", "client_msg_id": str(uuid.uuid4())}, format="json"
    )

    assert (response.status_code, response.json()["code"]) == (400, "empty_message")


# --- convergence: snapshot + after_seq catch-up == fresh fetch -----------------------------------


def full_history(client: APIClient, channel: Channel) -> Payload:
    response = client.get(messages_url(channel), {"limit": 200})
    assert response.status_code == 200
    return response.json()


def catch_up(client: APIClient, channel: Channel, snapshot: Payload, page_size: int) -> Payload:
    """Apply `?after_seq=N` pages by id to a stale snapshot, as a reconnecting client does."""
    by_id = {m["id"]: m for m in snapshot["messages"]}
    cursor = snapshot["last_seq"]
    for _page in range(100):
        page = client.get(messages_url(channel), {"after_seq": cursor, "limit": page_size}).json()
        for message in page["messages"]:
            by_id[message["id"]] = message
        if page["messages"]:
            cursor = page["messages"][-1]["version"]
        if not page["has_more_after"]:
            break
    else:  # pragma: no cover - a catch-up that never ends is the failure
        pytest.fail("after_seq paging did not terminate")
    return {
        "last_seq": page["last_seq"],
        "messages": sorted(by_id.values(), key=lambda m: m["seq"]),
    }


def _mixed_changes(alice: User, bob: User, channel: Channel, old: list[Message]) -> None:
    """Edits, deletions, reactions, new messages and thread replies after a snapshot."""
    alice_client, bob_client = client_of(alice), client_of(bob)
    alice_client.patch(message_url(old[0].pk), {"body": "edited @bob"}, format="json")
    bob_client.post(message_url(old[1].pk, "chat_api:reactions"), {"emoji": "🎉"}, format="json")
    alice_client.post(message_url(old[1].pk, "chat_api:reactions"), {"emoji": "🎉"}, format="json")
    alice_client.delete(message_url(old[2].pk))
    bob_client.post(message_url(old[3].pk, "chat_api:reactions"), {"emoji": "👍"}, format="json")
    bob_client.delete(f"{message_url(old[3].pk, 'chat_api:reactions')}?emoji=👍")
    for n in range(3):
        bob_client.post(
            messages_url(channel),
            {"body": f"new {n}", "client_msg_id": str(uuid.uuid4())},
            format="json",
        )
    reply = bob_client.post(
        messages_url(channel),
        {"body": "a reply", "client_msg_id": str(uuid.uuid4()), "thread_root_id": old[4].pk},
        format="json",
    ).json()["message"]
    bob_client.post(
        messages_url(channel),
        {"body": "another", "client_msg_id": str(uuid.uuid4()), "thread_root_id": old[4].pk},
        format="json",
    )
    bob_client.delete(message_url(reply["id"]))
    alice_client.patch(message_url(old[4].pk), {"body": "root, edited"}, format="json")
    bob_client.post(
        messages_url(channel),
        {"body": "late reply", "client_msg_id": str(uuid.uuid4()), "thread_root_id": old[5].pk},
        format="json",
    )


@pytest.mark.parametrize("page_size", [1, 2, 50])
def test_after_seq_catch_up_converges_to_a_fresh_fetch(
    alice: User, bob: User, general: Channel, page_size: int
) -> None:
    old = [send(alice, general, f"message {n}") for n in range(6)]
    services.reaction_add(user=bob, message_id=old[0].pk, emoji="👍")
    reader = client_of(bob)
    snapshot = full_history(reader, general)

    _mixed_changes(alice, bob, general, old)

    caught_up = catch_up(reader, general, snapshot, page_size)
    fresh = full_history(reader, general)
    assert caught_up["last_seq"] == fresh["last_seq"]
    assert [m["id"] for m in caught_up["messages"]] == [m["id"] for m in fresh["messages"]]
    for held, stored in zip(caught_up["messages"], fresh["messages"], strict=True):
        assert held == stored


def test_catch_up_sees_tombstones_with_their_seq(alice: User, bob: User, general: Channel) -> None:
    old = [send(alice, general, f"message {n}") for n in range(3)]
    reader = client_of(bob)
    snapshot = full_history(reader, general)
    services.message_delete(user=alice, message_id=old[1].pk)

    caught_up = catch_up(reader, general, snapshot, page_size=2)

    tombstone = caught_up["messages"][1]
    assert (tombstone["id"], tombstone["seq"], tombstone["deleted"]) == (old[1].pk, 2, True)
    assert (tombstone["body"], tombstone["reactions"]) == ("", [])


def test_after_seq_at_the_end_is_empty(alice: User, bob: User, general: Channel) -> None:
    send(alice, general)
    reader = client_of(bob)
    last_seq = full_history(reader, general)["last_seq"]

    page = reader.get(messages_url(general), {"after_seq": last_seq}).json()

    assert (page["messages"], page["has_more_after"]) == ([], False)


# --- query counts ------------------------------------------------------------------------------


def _channels_with_unread_mentions(user: User, other: User, count: int) -> None:
    for index in range(count):
        channel = services.channel_create(
            creator=other,
            kind=ChannelKind.PUBLIC,
            name=f"room-{user.username}-{index}",
            member_ids=[user.pk],
        )
        send(other, channel, f"@{user.username} look")
        send(other, channel, "@all news")
    send(other, services.dm_open(user=other, user_ids=[user.pk]), "psst")


def _count_queries(client: APIClient, path: str, params: dict[str, Any] | None = None) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path, params or {})
    assert response.status_code == 200
    return len(queries)


def test_channel_list_endpoint_query_count_is_the_same_for_2_and_20_channels(
    alice: User, make_user: MakeUser, django_assert_num_queries
) -> None:
    few, many = make_user(), make_user()
    _channels_with_unread_mentions(few, alice, 2)
    _channels_with_unread_mentions(many, alice, 20)
    few_queries = _count_queries(client_of(few), reverse("chat_api:channels"))

    with django_assert_num_queries(few_queries):
        rows = client_of(many).get(reverse("chat_api:channels")).json()

    assert len(rows) == 21
    assert sum(r["unread_count"] for r in rows) == 41
    assert sum(r["mention_count"] for r in rows) == 40


def test_history_endpoint_query_count_is_independent_of_page_size_and_reactions(
    alice: User, bob: User, general: Channel
) -> None:
    for n in range(30):
        message = send(alice, general, f"@bob {n}")
        if n % 2:
            services.reaction_add(user=bob, message_id=message.pk, emoji="👍")
            services.reaction_add(user=alice, message_id=message.pk, emoji="🎉")
    reader = client_of(bob)

    small = _count_queries(reader, messages_url(general), {"limit": 2})
    large = _count_queries(reader, messages_url(general), {"limit": 30})
    catch_up_page = _count_queries(reader, messages_url(general), {"after_seq": 0, "limit": 30})

    assert small == large == catch_up_page


# --- the responses have exactly the documented shape ----------------------------------------------


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def _resolve(schema: dict[str, Any], openapi: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = openapi["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def assert_matches_schema(
    value: Any, schema: dict[str, Any], openapi: dict[str, Any], where: str = "$"
) -> None:
    """Exact structural check of a JSON value against an OpenAPI schema (no extra keys)."""
    schema = _resolve(schema, openapi)
    if value is None:
        assert schema.get("nullable"), f"{where} is null but not nullable"
        return
    for combinator in ("allOf", "oneOf", "anyOf"):
        if combinator in schema:
            options = schema[combinator]
            errors = []
            for option in options:
                try:
                    assert_matches_schema(value, option, openapi, where)
                except AssertionError as error:
                    errors.append(error)
            if combinator == "allOf":
                assert not errors, errors
            else:
                assert len(errors) < len(options), errors
            return
    if "enum" in schema:
        assert value in schema["enum"], f"{where}={value!r} not in {schema['enum']}"
    kind = schema.get("type")
    if kind == "object" and "properties" in schema:
        assert isinstance(value, dict), where
        assert set(value) == set(schema["properties"]), f"{where}: keys differ"
        for key, item in value.items():
            assert_matches_schema(item, schema["properties"][key], openapi, f"{where}.{key}")
    elif kind == "object":
        assert isinstance(value, dict), where
        if isinstance(schema.get("additionalProperties"), dict):
            for key, item in value.items():
                assert_matches_schema(
                    item, schema["additionalProperties"], openapi, f"{where}.{key}"
                )
    elif kind == "array":
        assert isinstance(value, list), where
        for index, item in enumerate(value):
            assert_matches_schema(item, schema["items"], openapi, f"{where}[{index}]")
    elif kind == "integer":
        assert isinstance(value, int), where
        assert not isinstance(value, bool), where
    elif kind == "boolean":
        assert isinstance(value, bool), where
    elif kind == "string":
        assert isinstance(value, str), where


def _openapi_path(path: str) -> str:
    """/api/v1/channels/7/ -> /api/v1/channels/{channel_id}/ (the key in the OpenAPI paths)."""
    route = resolve(path.split("?")[0]).route
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


ALLOWED_CASES = [
    (name, method, case)
    for (name, method), route in MATRIX.items()
    for case in {c.status: c for c in reversed(route.cases) if c.allowed}.values()
]


@pytest.mark.usefixtures("empty_cache")
@pytest.mark.parametrize(
    ("name", "method", "case"),
    ALLOWED_CASES,
    ids=[f"{name.split(':')[1]}-{method}-{case.status}" for name, method, case in ALLOWED_CASES],
)
def test_response_has_exactly_the_documented_shape(
    openapi: dict[str, Any], name: str, method: str, case: Any
) -> None:
    world = build_world()

    response = call(world, name, method, case)

    operation = openapi["paths"][_openapi_path(response.wsgi_request.get_full_path())][method]
    documented = operation["responses"].get(str(response.status_code))
    assert documented is not None, f"status {response.status_code} is not documented"
    content = documented.get("content", {})
    schema = content.get("application/json", {}).get("schema")
    if not content:
        assert response.content == b"", "a body is returned where none is documented"
    elif schema is None:  # a file: documented as binary, not JSON
        assert response["Content-Type"] != "application/json"
    else:
        assert_matches_schema(response.json(), schema, openapi)


def test_message_output_has_exactly_the_serializer_fields(alice: User, general: Channel) -> None:
    message = send(alice, general)

    body = client_of(alice).get(message_url(message.pk)).json()

    assert set(body) == set(serializers.MessageOut().fields)


def test_channel_output_has_exactly_the_serializer_fields(alice: User, general: Channel) -> None:
    body = client_of(alice).get(reverse("chat_api:channel", kwargs={"channel_id": general.pk}))

    assert set(body.json()) == set(serializers.ChannelSummaryOut().fields)


# --- other REST behaviour ----------------------------------------------------------------------


def test_dm_detail_lists_its_members(alice: User, bob: User) -> None:
    dm = services.dm_open(user=alice, user_ids=[bob.pk])

    body = client_of(bob).get(reverse("chat_api:channel", kwargs={"channel_id": dm.pk})).json()

    assert body["member_ids"] == sorted([alice.pk, bob.pk])


def test_direct_open_returns_the_same_channel_for_both_people(alice: User, bob: User) -> None:
    url = reverse("chat_api:direct")

    from_alice = client_of(alice).post(url, {"user_ids": [bob.pk]}, format="json").json()
    from_bob = client_of(bob).post(url, {"user_ids": [alice.pk]}, format="json").json()

    assert from_alice["id"] == from_bob["id"]
    assert from_alice["member_ids"] == sorted([alice.pk, bob.pk])


def test_create_channel_returns_it(alice: User) -> None:
    response = client_of(alice).post(
        reverse("chat_api:channels"), {"kind": "private", "name": " ops "}, format="json"
    )

    assert response.status_code == 201
    assert (response.json()["kind"], response.json()["name"]) == ("private", "ops")


def test_create_channel_with_direct_kind_is_a_validation_error(alice: User) -> None:
    response = client_of(alice).post(
        reverse("chat_api:channels"), {"kind": "direct", "name": "x"}, format="json"
    )

    assert (response.status_code, response.json()["code"]) == (400, "invalid")
    assert list(response.json()["details"]) == ["kind"]


def test_history_limit_above_maximum_is_refused(bob: User, general: Channel) -> None:
    response = client_of(bob).get(messages_url(general), {"limit": 201})

    assert (response.status_code, response.json()["code"]) == (400, "invalid_limit")


def test_reaction_delete_takes_emoji_from_query(alice: User, bob: User, general: Channel) -> None:
    message = send(alice, general)
    services.reaction_add(user=bob, message_id=message.pk, emoji="👍")

    response = client_of(bob).delete(f"{message_url(message.pk, 'chat_api:reactions')}?emoji=👍")

    assert response.status_code == 200
    assert response.json()["reactions"] == []


def test_thread_endpoint_returns_root_and_replies(alice: User, bob: User, general: Channel) -> None:
    root = send(alice, general, "root")
    reply = send(bob, general, "reply", thread_root_id=root.pk)

    body = client_of(bob).get(message_url(reply.pk, "chat_api:thread")).json()

    assert body["root"]["id"] == root.pk
    assert body["root"]["reply_count"] == 1
    assert [m["id"] for m in body["replies"]] == [reply.pk]


def test_presence_query_refuses_non_numeric_ids(alice: User) -> None:
    response = client_of(alice).get(reverse("chat_api:presence"), {"user_ids": "1,x"})

    assert (response.status_code, response.json()["code"]) == (400, "invalid_field")


def test_presence_post_then_get_shows_user_online(alice: User, bob: User) -> None:
    client_of(alice).post(reverse("chat_api:presence"), {"status": "online"}, format="json")

    body = client_of(bob).get(reverse("chat_api:presence"), {"user_ids": f"{alice.pk}"}).json()

    assert body == {str(alice.pk): "online"}
