"""Every REST route against every actor (tests/api_matrix.py), plus id-guessing probes.

The matrix has hundreds of cases, so the module builds its world once inside a transaction that
is rolled back at the end; each test runs in its own savepoint on a deep copy of the objects.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction
from django.test import override_settings
from django.urls import reverse
from rest_framework.test import APIClient

from tests.api_matrix import (
    NEEDS_JANUS,
    PRIVATE,
    PUBLIC,
    Case,
    World,
    build_world,
    call,
    case_id,
    matrix_params,
    state_fingerprint,
)
from tests.calls.janus_server import JanusServer, janus_installed

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]


@pytest.fixture(scope="module")
def module_janus() -> Iterator[JanusServer | None]:
    """A throwaway Janus for the meeting routes' allowed cases (None when not installed)."""
    if not janus_installed():
        yield None
        return
    server = JanusServer()
    server.start()
    with override_settings(**server.settings()):
        yield server
    server.cleanup()


@pytest.fixture(scope="module")
def shared_world(
    django_db_setup: Any, django_db_blocker: Any, module_janus: JanusServer | None
) -> Iterator[World]:
    with django_db_blocker.unblock(), transaction.atomic():
        yield build_world()
        transaction.set_rollback(True)


@pytest.fixture
def world(shared_world: World, db: Any) -> World:
    """The module's world; writes of the test roll back with its savepoint."""
    return copy.deepcopy(shared_world)


PARAMS = matrix_params()


@pytest.mark.parametrize(
    ("name", "method", "case"), PARAMS, ids=[case_id(*params) for params in PARAMS]
)
def test_route_answers_each_actor_as_the_matrix_says(
    world: World, name: str, method: str, case: Case, module_janus: JanusServer | None
) -> None:
    if name in NEEDS_JANUS and module_janus is None:
        pytest.skip("[janus] needs Janus (apt-get install janus)")
    before = state_fingerprint()

    response = call(world, name, method, case)

    assert response.status_code == case.status, response.content
    if not case.allowed:
        assert response.json() == {
            "code": case.code,
            "message": response.json()["message"],
            "details": {},
        }
        assert state_fingerprint() == before, "a refused request changed stored state"


def _client(user: object) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_private_channel_answers_outsider_like_a_missing_one(world: World) -> None:
    client = _client(world.users["non_member"])
    missing_id = world.channel_id(PRIVATE) + 1000

    existing = client.get(
        reverse("chat_api:channel", kwargs={"channel_id": world.channel_id(PRIVATE)})
    )
    missing = client.get(reverse("chat_api:channel", kwargs={"channel_id": missing_id}))

    assert (existing.status_code, existing.json()) == (missing.status_code, missing.json())
    assert existing.json()["code"] == "channel_not_found"


def test_guessing_sequential_channel_ids_reveals_no_private_channel(world: World) -> None:
    client = _client(world.users["non_member"])
    visible = set()
    # Ids on either side of both channels (PostgreSQL does not restart ids between tests).
    low, high = sorted((world.channel_id(PUBLIC), world.channel_id(PRIVATE)))
    for channel_id in range(max(1, low - 10), high + 10):
        for suffix in ("", "messages/", "members/"):
            path = reverse("chat_api:channel", kwargs={"channel_id": channel_id}) + suffix
            response = client.get(path)
            if response.status_code == 200:
                visible.add(channel_id)
            else:
                assert (response.status_code, response.json()["code"]) == (
                    404,
                    "channel_not_found",
                )

    assert world.channel_id(PUBLIC) in visible
    assert world.channel_id(PRIVATE) not in visible


def test_guessing_sequential_message_ids_reveals_no_private_message(world: World) -> None:
    client = _client(world.users["non_member"])
    readable = set()
    low, high = sorted((world.message_id(PUBLIC), world.message_id(PRIVATE)))
    for message_id in range(max(1, low - 10), high + 10):
        for name in ("chat_api:message", "chat_api:thread"):
            response = client.get(reverse(name, kwargs={"message_id": message_id}))
            if response.status_code == 200:
                readable.add(message_id)
            else:
                assert (response.status_code, response.json()["code"]) == (
                    404,
                    "message_not_found",
                )

    assert world.message_id(PUBLIC) in readable
    assert world.message_id(PRIVATE) not in readable


def test_outsider_cannot_reply_into_private_thread_through_public_channel(world: World) -> None:
    client = _client(world.users["non_member"])
    client.post(reverse("chat_api:join", kwargs={"channel_id": world.channel_id(PUBLIC)}))

    response = client.post(
        reverse("chat_api:messages", kwargs={"channel_id": world.channel_id(PUBLIC)}),
        {
            "body": "sneaky",
            "client_msg_id": str(uuid.uuid4()),
            "thread_root_id": world.message_id(PRIVATE),
        },
        format="json",
    )

    assert (response.status_code, response.json()["code"]) == (404, "thread_not_found")


def test_guest_lists_only_channels_they_belong_to(world: World) -> None:
    client = _client(world.users["guest"])

    listed = [c["id"] for c in client.get(reverse("chat_api:channels")).json()]

    assert listed == [world.channel_id(PRIVATE)]


def test_guest_browses_no_public_channels(world: World) -> None:
    client = _client(world.users["guest"])

    assert client.get(reverse("chat_api:channels-browse")).json()["results"] == []


def test_non_member_browse_shows_public_but_not_private_channels(world: World) -> None:
    client = _client(world.users["non_member"])

    rows = client.get(reverse("chat_api:channels-browse")).json()["results"]

    assert [(r["id"], r["is_member"]) for r in rows] == [(world.channel_id(PUBLIC), False)]


def test_guest_cannot_look_up_people_outside_their_channels(world: World) -> None:
    client = _client(world.users["guest"])

    usernames = {u["username"] for u in client.get(reverse("chat_api:users")).json()["results"]}

    assert usernames == {"channeladmin", "member", "guest", "bystander"}


def test_deactivated_session_user_is_refused(world: World) -> None:
    member = world.users["member"]
    member.is_active = False
    member.save(update_fields=["is_active"])

    response = _client(member).get(
        reverse("chat_api:messages", kwargs={"channel_id": world.channel_id(PUBLIC)})
    )

    assert (response.status_code, response.json()["code"]) == (403, "account_deactivated")


def test_guest_probing_user_ids_through_dms_learns_nothing(world: World) -> None:
    client = _client(world.users["guest"])
    url = reverse("chat_api:direct")

    stranger = client.post(url, {"user_ids": [world.users["invitee"].pk]}, format="json")
    missing = client.post(url, {"user_ids": [999_999]}, format="json")

    assert (stranger.status_code, stranger.json()) == (missing.status_code, missing.json())
    assert stranger.json()["code"] == "unknown_user"
