"""Members read how long a channel keeps messages in the channel's details."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.playwright_api import expect

pytestmark = pytest.mark.browser


def test_channel_details_say_how_long_messages_are_kept(
    open_app: Callable[..., Any], api_for: Callable[[str], Any], artifacts: Path
) -> None:
    alice = api_for("alice")  # an organisation administrator in the demo company
    channel = alice.create_channel(members=("bob",))
    bob = open_app("bob", channel_id=channel["id"])
    page = bob.page

    page.click("#details-toggle")
    expect(page.locator("#details-dialog")).to_be_visible()
    expect(page.locator("#details-retention")).to_be_hidden()  # keep forever: nothing to say
    page.keyboard.press("Escape")

    response = alice.request.put(
        f"{alice.base}channels/{channel['id']}/retention/",
        headers=alice.headers,
        data={"mode": "delete", "days": 30},
    )
    assert response.ok, response.text()

    page.click("#details-toggle")
    retention = page.locator("#details-retention")
    expect(retention).to_have_text("Messages older than 30 days are deleted.")
    page.locator("#details-dialog").screenshot(path=str(artifacts / "channel-retention.png"))
