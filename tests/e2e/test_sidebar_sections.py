"""Sidebar sections fold and unfold, keep unread conversations visible, and remember it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.playwright_api import expect

pytestmark = pytest.mark.browser


def test_folded_channels_section_hides_read_channels_and_survives_a_reload(
    open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    quiet = api_for("alice").create_channel(members=("bob",))
    busy = api_for("alice").create_channel(members=("bob",))
    home = api_for("alice").create_channel(members=("bob",))
    bob = open_app("bob", channel_id=home["id"])
    page = bob.page
    toggle = page.locator(".section-toggle[data-section=channels]")

    toggle.click()
    api_for("alice").send(busy["id"], "news while folded")

    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(bob.sidebar_link(quiet["id"])).to_be_hidden()
    expect(bob.sidebar_link(busy["id"])).to_be_visible()
    expect(bob.sidebar_link(home["id"])).to_be_visible()
    page.reload()
    expect(page.locator(".section-toggle[data-section=channels]")).to_have_attribute(
        "aria-expanded", "false"
    )
    page.locator(".section-toggle[data-section=channels]").click()
    expect(bob.sidebar_link(quiet["id"])).to_be_visible()
