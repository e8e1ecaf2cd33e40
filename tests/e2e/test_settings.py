"""Profile and settings: display name, time zone and language, applied without losing the page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.playwright_api import expect

pytestmark = pytest.mark.browser


def test_user_changes_display_name_time_zone_and_language(
    open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    channel = api_for("alice").create_channel(members=("lina",))
    api_for("alice").send(channel["id"], "what time is it?")
    lina = open_app("lina", channel_id=channel["id"])
    page = lina.page
    me = api_for("lina").get("users/me/")
    other_zone = "Pacific/Auckland" if me["time_zone"] != "Pacific/Auckland" else "Europe/London"
    time_before = page.locator("#message-list .msg-time").first.inner_text()

    page.click(".user-menu-summary")
    page.click("[data-action=open-settings]")
    expect(page.locator("#settings-dialog")).to_be_visible()
    expect(page.locator("#settings-time-zone")).to_have_value(me["time_zone"])
    page.fill("#settings-display-name", "Lina Li")
    page.select_option("#settings-time-zone", other_zone)
    page.click("#settings-form button[type=submit]")
    expect(page.locator("#settings-dialog")).to_be_hidden()
    expect(page.locator(".user-menu-name")).to_have_text("Lina Li")
    expect(page.locator("#message-list .msg-time").first).not_to_have_text(time_before)
    saved = api_for("lina").get("users/me/")
    assert (saved["display_name"], saved["time_zone"]) == ("Lina Li", other_zone)

    # Language: the page comes back in Chinese.
    page.click(".user-menu-summary")
    page.click("[data-action=open-settings]")
    page.select_option("#settings-language", "zh-hans")
    page.click("#settings-form button[type=submit]")
    expect(page.locator("#channels-heading")).to_have_text("频道")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")


def test_author_name_opens_a_user_card_with_a_message_button(
    open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    channel = api_for("alice").create_channel(members=("carol",))
    api_for("carol").send(channel["id"], "hello from carol")
    alice = open_app("alice", channel_id=channel["id"])
    page = alice.page

    alice.message("hello from carol").locator("button.msg-author").click()
    card = page.locator(".user-card")
    expect(card).to_be_visible()
    expect(card).to_contain_text("Carol Johnson")
    expect(card).to_contain_text("@carol")
    page.keyboard.press("Escape")
    expect(card).to_have_count(0)

    alice.message("hello from carol").locator("button.msg-author").click()
    card.get_by_role("button", name="Send a message").click()
    expect(page.locator("#conversation-title")).to_have_text("Carol Johnson")
