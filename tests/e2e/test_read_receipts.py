"""Read receipts in the browser: B reads A's direct message, and A's tab shows "Read" live.

The demo company has read receipts on (apps/chat/demo.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.playwright_api import expect

pytestmark = pytest.mark.browser


def test_sender_sees_read_live_when_the_partner_reads_a_direct_message(
    open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    sender_api = api_for("carol")
    dm = sender_api.post("direct/", {"user_ids": [sender_api.user_id("liuyang")]})
    carol = open_app("carol", channel_id=dm["id"])
    carol.wait_socket_ready()
    text = f"did you see this? {uuid.uuid4().hex[:8]}"

    carol.send(text)
    receipt = carol.message(text).locator(".msg-receipt")
    expect(receipt).to_have_text("✓Unread")

    # The partner opens the conversation: their tab marks it read, the sender's label follows.
    open_app("liuyang", channel_id=dm["id"])
    expect(receipt).to_have_text("✓✓Read")
    expect(receipt).to_have_class("msg-receipt msg-receipt--read")

    # A click shows who has read it.
    receipt.click()
    card = carol.page.locator(".receipts-card")
    expect(card.locator(".receipts-group--read .receipts-member")).to_contain_text(["刘洋"])
    expect(card.locator(".receipts-group--unread .receipts-none")).to_have_count(1)
    carol.page.screenshot(path="test-artifacts/read-receipts.png")
    carol.page.keyboard.press("Escape")
    expect(card).to_have_count(0)
