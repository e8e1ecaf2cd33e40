"""Keyboard shortcuts help: "?" or Ctrl+/ opens it, Esc closes it, focus stays inside."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.playwright_api import expect

pytestmark = pytest.mark.browser


def test_question_mark_opens_the_shortcuts_and_escape_closes_them(
    open_app: Callable[..., Any],
) -> None:
    page = open_app("bob").page
    page.locator("#channels-heading button").focus()

    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Jump to a conversation")
    expect(dialog).to_contain_text("Search messages")
    expect(dialog.locator("kbd", has_text="Esc")).to_have_count(1)
    # Tab goes round inside the dialog.
    for _ in range(4):
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.closest('#shortcuts-dialog') !== null")

    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.locator("#channels-heading button")).to_be_focused()


def test_question_mark_typed_in_the_message_box_is_text(
    open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    channel = api_for("bob").create_channel()
    page = open_app("bob", channel_id=channel["id"]).page

    page.locator("#composer-input").press_sequentially("why?")

    expect(page.locator("#composer-input")).to_have_value("why?")
    expect(page.locator("#shortcuts-dialog")).to_be_hidden()
    # Ctrl+/ works from the message box too, and toggles.
    page.keyboard.press("Control+/")
    expect(page.locator("#shortcuts-dialog")).to_be_visible()
    page.keyboard.press("Control+/")
    expect(page.locator("#shortcuts-dialog")).to_be_hidden()
    expect(page.locator("#composer-input")).to_be_focused()


def test_account_menu_opens_the_shortcuts(open_app: Callable[..., Any]) -> None:
    page = open_app("bob").page

    page.click(".user-menu-summary")
    page.click("[data-action=open-shortcuts]")

    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()


# The conversation `step` places from `fromId` in the sidebar's order (only unread ones if
# `unreadOnly`), read off the page: other tests' conversations may sit in between.
CONVERSATION_FROM = """([fromId, step, unreadOnly]) => {
  const links = [...document.querySelectorAll('#sidebar .conversation-link[data-channel-id]')];
  const here = links.findIndex((link) => Number(link.dataset.channelId) === fromId);
  const rest = step > 0 ? links.slice(here + 1) : links.slice(0, here).reverse();
  const found = rest.find((link) => !unreadOnly || link.classList.contains('is-unread'));
  return found ? Number(found.dataset.channelId) : null;
}"""


def test_alt_arrows_go_to_the_next_conversation_and_the_next_unread_one(
    open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    """Alt+↓ opens the conversation below in the sidebar, Alt+↑ the one above, and with Shift
    the next unread one, skipping read ones."""
    bob, alice = api_for("bob"), api_for("alice")
    # The sidebar sorts channels by name: the news is below where we start.
    start, news = sorted(
        (bob.create_channel(members=("alice",)) for _ in range(2)), key=lambda c: c["name"]
    )
    alice.send(news["id"], "something new")
    app = open_app("bob", channel_id=start["id"])
    page = app.page
    expect(app.sidebar_link(news["id"])).to_have_class(re.compile(r"\bis-unread\b"))
    below = page.evaluate(CONVERSATION_FROM, [start["id"], 1, False])
    unread = page.evaluate(CONVERSATION_FROM, [start["id"], 1, True])
    assert below is not None
    assert unread is not None
    above_unread = page.evaluate(CONVERSATION_FROM, [unread, -1, False])

    page.keyboard.press("Alt+Shift+ArrowDown")
    expect(app.sidebar_link(unread)).to_have_attribute("aria-current", "page")

    page.keyboard.press("Alt+ArrowUp")
    expect(app.sidebar_link(above_unread)).to_have_attribute("aria-current", "page")

    app.open(start["id"])
    page.keyboard.press("Alt+ArrowDown")
    expect(app.sidebar_link(below)).to_have_attribute("aria-current", "page")
    # The help lists them.
    page.keyboard.press("Control+/")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_contain_text("Previous or next unread conversation")
