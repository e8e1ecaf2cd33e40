"""Pins and saved items in the browser: pin and save a message in one tab, and a second tab of the
same person sees the pin marker, the channel's pinned list and the saved list change live. The
demo company turns the `pins_saved` flag on for everyone (seed_demo)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.playwright_api import expect

pytestmark = pytest.mark.browser


def test_pin_and_save_in_one_tab_show_live_in_another(
    open_app: Callable[..., Any],
    api_for: Callable[[str], Any],
    artifacts: Path,
) -> None:
    tag = uuid.uuid4().hex[:8]
    channel = api_for("alice").create_channel(members=("bob",))
    text = f"the launch plan {tag}"
    api_for("bob").send(channel["id"], text)
    first = open_app("alice", channel_id=channel["id"])
    second = open_app("alice", channel_id=channel["id"])
    expect(second.message(text)).to_have_count(1)

    # Pin in the first tab: the second shows the marker, and its pinned list has the message.
    first.message(text).hover()
    first.message(text).locator("[data-act=pin]").click()
    expect(second.message(text).locator(".msg-pinned")).to_contain_text("Pinned by")
    second.page.click("#pins-toggle")
    expect(second.page.locator("#pins-list li")).to_have_count(1)
    expect(second.page.locator("#pins-list")).to_contain_text(text)

    # Unpin in the first tab: the open pinned list in the second empties, the marker goes.
    first.message(text).hover()
    first.message(text).locator("[data-act=pin]").click()
    expect(second.page.locator("#pins-list li")).to_have_count(0)
    second.page.keyboard.press("Escape")
    expect(second.message(text).locator(".msg-pinned")).to_have_count(0)

    # Save in the first tab: the second shows the message as saved and lists it.
    first.message(text).hover()
    first.message(text).locator("[data-act=save]").click()
    expect(second.message(text).locator("[data-act=save]")).to_have_attribute(
        "aria-pressed", "true"
    )
    second.page.click("#saved-open")
    expect(second.page.locator("#saved-list li")).to_have_count(1)
    expect(second.page.locator("#saved-list")).to_contain_text(text)
    second.page.screenshot(path=str(artifacts / "saved-items.png"))

    # Unsave in the first tab: the second's open list empties.
    first.message(text).hover()
    first.message(text).locator("[data-act=save]").click()
    expect(second.page.locator("#saved-list li")).to_have_count(0)
