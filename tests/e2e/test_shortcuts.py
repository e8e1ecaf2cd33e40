"""Keyboard shortcuts help: "?" or Ctrl+/ opens it, Esc closes it, focus stays inside."""

from __future__ import annotations

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
