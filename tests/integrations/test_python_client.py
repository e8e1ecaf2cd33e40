"""The bot client (clients/python/enclave_bot.py) against the real server pieces: it verifies
what the server signs, and its REST calls post as the bot through a live test server."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from apps.chat import services as chat_services
from apps.chat.models import Message
from apps.integrations import signing
from tests.integrations.conftest import Setup

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "python" / "enclave_bot.py"


@pytest.fixture(scope="module")
def enclave_bot() -> ModuleType:
    spec = importlib.util.spec_from_file_location("enclave_bot", CLIENT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["enclave_bot"] = module
    spec.loader.exec_module(module)
    return module


def test_client_verifies_the_servers_signature(enclave_bot: ModuleType) -> None:
    body = json.dumps({"type": "message", "text": "echo hi"}).encode()
    headers = signing.signed_headers(secret="k", body=body)
    server = enclave_bot.BotServer(signing_secret="k")
    server.on_message(lambda event: {"text": event["text"].upper()})

    assert server.handle(headers, body) == (200, {"text": "ECHO HI"})
    assert server.handle(headers, body.replace(b"hi", b"ho"))[0] == 401
    assert server.handle({**headers, signing.SIGNATURE_HEADER: "v1=00"}, body)[0] == 401


@pytest.mark.django_db(transaction=True)
def test_client_posts_as_the_bot(enclave_bot: ModuleType, setup: Setup, live_server: Any) -> None:
    chat_services.channel_invite(
        actor=setup.admin, channel_id=setup.channel.pk, user_ids=[setup.bot.user_id]
    )
    client = enclave_bot.EnclaveClient(live_server.url, token=setup.bot_token)

    posted = client.post(setup.channel.pk, "Build 812 **passed**")
    buttons = client.post_with_buttons(
        setup.channel.pk, "Deploy?", [{"id": "go", "label": "Go", "style": "primary"}]
    )

    assert Message.objects.get(pk=posted["id"]).sender_id == setup.bot.user_id
    assert Message.objects.get(pk=buttons["id"]).body == "Deploy?"
    with pytest.raises(enclave_bot.EnclaveError) as refused:
        client.post(999_999, "nowhere")
    assert refused.value.status == 404
