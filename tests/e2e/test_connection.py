"""The page survives a server restart mid-conversation: no gap, no duplicate."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.playwright_api import expect

pytestmark = pytest.mark.browser

RECONNECT_TIMEOUT_MS = 40_000


def test_server_restart_mid_conversation_ends_with_exactly_the_stored_history(
    open_app: Callable[..., Any], api_for: Callable[[str], Any], e2e_server: Any
) -> None:
    tag = uuid.uuid4().hex[:8]
    channel = api_for("alice").create_channel(members=("bob",))
    alice = open_app("alice", channel_id=channel["id"])
    bob = open_app("bob", channel_id=channel["id"])
    for n in range(3):
        (alice if n % 2 else bob).send(f"before {n} {tag}")
    expect(alice.message(f"before 2 {tag}")).to_have_count(1)

    e2e_server.stop()
    expect(alice.page.locator("#connection-banner")).to_be_visible()
    # Sent while the server is down: shown at once as pending, delivered after reconnecting.
    queued = f"sent while down {tag}"
    alice.send(queued)
    expect(alice.page.locator("#message-list .msg--pending", has_text=queued)).to_have_count(1)

    e2e_server.start()
    # Posted before the pages reconnect: only the REST catch-up can bring these.
    for n in range(3):
        api_for("bob").send(channel["id"], f"missed {n} {tag}")

    for app in (alice, bob):
        expect(app.page.locator("#connection-banner")).to_be_hidden(timeout=RECONNECT_TIMEOUT_MS)
        expect(app.message(queued)).to_have_count(1, timeout=RECONNECT_TIMEOUT_MS)
        expect(app.message(f"missed 2 {tag}")).to_have_count(1, timeout=RECONNECT_TIMEOUT_MS)
        expect(app.page.locator("#message-list .msg--pending")).to_have_count(0)

    # And the conversation goes on live.
    after = f"after restart {tag}"
    bob.send(after)
    expect(alice.message(after)).to_have_count(1)

    stored = [
        m["id"] for m in sorted(api_for("alice").history(channel["id"]), key=lambda m: m["seq"])
    ]
    assert len(stored) == 8
    for app in (alice, bob):
        expect(app.page.locator("#message-list article[data-message-id]")).to_have_count(
            len(stored)
        )
        assert app.message_ids() == stored, app.username
