"""The assistant's REST routes and its `assistant.ask` WebSocket operation: allowed and refused
(the flag, anonymous callers, channels the caller may not read, bad input), and answers that
hold only what the caller may read. The full actor matrix is in tests/api_matrix.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.core.cache import cache
from rest_framework.test import APIClient

from apps.accounts.models import User
from apps.chat.consumers import OPERATIONS
from apps.ops.models import FeatureFlag
from tests.assistant.conftest import World
from tests.ws import WsClient

ClientFor = Callable[[User | None], APIClient]
Connect = Callable[..., Awaitable[WsClient]]
STATUS = "/api/v1/assistant/"
ASK = "/api/v1/assistant/ask/"


def flag_off() -> None:
    FeatureFlag.objects.filter(name="assistant").update(everyone=False)
    cache.clear()


@pytest.mark.django_db
class TestRest:
    def test_status_tells_the_mode_and_the_retrieval(
        self, world: World, client_for: ClientFor
    ) -> None:
        response = client_for(world.bob).get(STATUS)

        assert response.status_code == 200, response.content
        assert response.json()["mode"] == "extractive"
        assert response.json()["retrieval"] == "full_text"
        assert response.json()["calls_today"] == 0

    def test_an_answer_over_rest_cites_only_what_the_caller_may_read(
        self, world: World, client_for: ClientFor
    ) -> None:
        response = client_for(world.bob).post(
            ASK, {"question": "launch codename budget party"}, format="json"
        )

        assert response.status_code == 200, response.content
        cited = {c["message_id"] for c in response.json()["citations"]}
        assert cited == {world.general_messages[0].pk}
        assert response.json()["ai_generated"] is False
        assert response.json()["citations"][0]["url"].endswith(
            f"/c/{world.general.pk}/?m={world.general_messages[0].pk}"
        )

    def test_a_generated_answer_over_rest_is_labelled(
        self, world: World, client_for: ClientFor, configured: Any
    ) -> None:
        response = client_for(world.bob).post(ASK, {"question": "launch party"}, format="json")

        assert response.json()["ai_generated"] is True
        assert response.json()["prompt_tokens"] == 120

    def test_a_channel_the_caller_cannot_read_is_not_found(
        self, world: World, client_for: ClientFor
    ) -> None:
        response = client_for(world.bob).post(
            ASK, {"question": "summarise", "channel_id": world.secret.pk}, format="json"
        )

        assert response.status_code == 404
        assert response.json()["code"] == "channel_not_found"

    @pytest.mark.parametrize("body", [{}, {"question": "  "}, {"question": "x" * 4001}])
    def test_bad_questions_are_refused(
        self, world: World, client_for: ClientFor, body: dict[str, Any]
    ) -> None:
        response = client_for(world.bob).post(ASK, body, format="json")

        assert response.status_code == 400
        assert response.json()["code"] == "invalid"

    @pytest.mark.parametrize("path", [STATUS, ASK])
    def test_without_the_flag_the_routes_do_not_exist(
        self, world: World, client_for: ClientFor, path: str
    ) -> None:
        flag_off()

        response = client_for(world.bob).post(path, {"question": "hi"}, format="json")
        if path == STATUS:
            response = client_for(world.bob).get(path)

        assert response.status_code == 404
        assert response.json()["code"] == "feature_disabled"

    def test_quota_exhaustion_is_429(
        self, world: World, client_for: ClientFor, configured: Any
    ) -> None:
        from tests.assistant.conftest import configure

        configure(user_calls_per_day=1)
        client = client_for(world.bob)
        client.post(ASK, {"question": "launch"}, format="json")

        response = client.post(ASK, {"question": "launch"}, format="json")

        assert response.status_code == 429
        assert response.json()["code"] == "assistant_quota_exhausted"

    def test_a_model_time_out_is_504_with_its_code(
        self, world: World, client_for: ClientFor, configured: Any
    ) -> None:
        from tests.assistant.conftest import configure

        configure(timeout_seconds=1)
        configured.behaviour.delay_seconds = 2

        response = client_for(world.bob).post(ASK, {"question": "launch"}, format="json")

        assert response.status_code == 504
        assert response.json()["code"] == "llm_timeout"


def test_the_assistant_registers_its_operation_with_the_chat_consumer() -> None:
    assert "assistant.ask" in OPERATIONS


@pytest.mark.django_db(transaction=True)
class TestWebSocket:
    async def test_ask_acks_then_pushes_the_answer_to_the_asker_only(
        self, world: World, ws_connect: Connect
    ) -> None:
        bob, alice = await ws_connect(world.bob), await ws_connect(world.alice)

        ack = await bob.request("assistant.ask", question="launch codename budget party")

        assert ack["type"] == "ack", ack
        answer = await bob.event("assistant.answer", within=5.0)
        assert answer["request_id"] == ack["request_id"]
        assert answer["error"] is None
        cited = {c["message_id"] for c in answer["answer"]["citations"]}
        assert cited == {world.general_messages[0].pk}
        await alice.assert_nothing("assistant.answer")

    async def test_ask_about_a_channel_the_asker_cannot_read_is_refused(
        self, world: World, ws_connect: Connect
    ) -> None:
        bob = await ws_connect(world.bob)

        reply = await bob.request("assistant.ask", question="summarise", channel_id=world.secret.pk)

        assert (reply["type"], reply["code"]) == ("error", "channel_not_found")
        await bob.assert_nothing("assistant.answer")

    @pytest.mark.parametrize(
        ("fields", "code"),
        [
            ({"question": ""}, "empty_question"),
            ({"question": 3}, "empty_question"),
            ({"question": "hi", "channel_id": "1"}, "invalid_field"),
        ],
    )
    async def test_bad_input_is_an_error_event(
        self, world: World, ws_connect: Connect, fields: dict[str, Any], code: str
    ) -> None:
        bob = await ws_connect(world.bob)

        reply = await bob.request("assistant.ask", **fields)

        assert (reply["type"], reply["code"]) == ("error", code)

    async def test_without_the_flag_ask_is_refused(self, world: World, ws_connect: Connect) -> None:
        await database_sync_to_async(flag_off)()
        bob = await ws_connect(world.bob)

        reply = await bob.request("assistant.ask", question="launch")

        assert (reply["type"], reply["code"]) == ("error", "feature_disabled")
