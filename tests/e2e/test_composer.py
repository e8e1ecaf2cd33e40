"""Composer autocomplete: @ mentions over the channel's members, : emoji, # channel links."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.playwright_api import expect

pytestmark = pytest.mark.browser


def test_mention_emoji_and_channel_autocomplete_by_keyboard(
    open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    tag = uuid.uuid4().hex[:8]
    channel = api_for("alice").create_channel(members=("bob", "carol"))
    elsewhere = api_for("alice").create_channel(members=("bob",))
    alice = open_app("alice", channel_id=channel["id"])
    bob = open_app("bob", channel_id=elsewhere["id"])
    page = alice.page
    suggestions = page.locator("#composer-input-suggestions")

    page.focus("#composer-input")
    page.keyboard.type(f"ping {tag} @bo")
    expect(suggestions.locator("[role=option]").first).to_contain_text("@bob")
    # Only members are offered: liuyang is not in the channel.
    page.keyboard.press("Backspace")
    page.keyboard.press("Backspace")
    page.keyboard.type("liu")
    expect(suggestions).to_be_hidden()
    for _ in range(3):
        page.keyboard.press("Backspace")
    page.keyboard.type("bo")
    expect(suggestions).to_be_visible()
    page.keyboard.press("Enter")  # accepts the suggestion, does not send
    expect(page.locator("#composer-input")).to_have_value(f"ping {tag} @bob ")

    page.keyboard.type("great :tad")
    expect(suggestions.locator("[role=option]").first).to_contain_text("🎉")
    page.keyboard.press("Tab")
    page.keyboard.type(f" see #{elsewhere['name'][:8]}")
    expect(suggestions.locator("[role=option]").first).to_contain_text(elsewhere["name"])
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")  # nothing open: harmless
    page.keyboard.press("Enter")  # now it sends

    sent = alice.message(tag)
    expect(sent.locator(".msg-body")).to_contain_text("🎉")
    expect(sent.locator(".mention").first).to_have_text("@Bob Smith")
    link = sent.locator(f"a:has-text('#{elsewhere['name']}')")
    expect(link).to_have_count(1)
    # Bob was mentioned: the channel shows a mention badge in his sidebar.
    expect(bob.sidebar_link(channel["id"]).locator(".badge--mention")).to_have_text("@1")
    # The channel link opens in place.
    link.click()
    alice.wait_channel_open(elsewhere["id"])


def test_reaction_from_the_full_emoji_picker_reaches_the_other_person(
    open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    channel = api_for("alice").create_channel(members=("bob",))
    api_for("bob").send(channel["id"], "we shipped it")
    alice = open_app("alice", channel_id=channel["id"])
    bob = open_app("bob", channel_id=channel["id"])

    message = alice.message("we shipped it")
    message.hover()
    message.locator("[data-act=react]").click()
    alice.page.click(".emoji-picker [data-more]")
    alice.page.fill(".emoji-picker-search", "rock")
    expect(alice.page.locator(".emoji-picker-grid button")).to_have_count(1)
    alice.page.press(".emoji-picker-search", "Enter")
    expect(bob.message("we shipped it").locator(".reaction", has_text="🚀")).to_contain_text("1")
    expect(alice.page.locator(".emoji-picker")).to_have_count(0)


def test_emoji_are_found_by_chinese_words_in_the_picker_and_the_composer(
    open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    channel = api_for("zhangwei").create_channel(members=("alice",))
    api_for("alice").send(channel["id"], "新版本上线了")
    zhang = open_app("zhangwei", channel_id=channel["id"], locale="zh-CN")
    page = zhang.page

    message = zhang.message("新版本上线了")
    message.hover()
    message.locator("[data-act=react]").click()
    page.click(".emoji-picker [data-more]")
    grid = page.locator(".emoji-picker-grid button")
    page.fill(".emoji-picker-search", "笑")
    expect(grid.filter(has_text="😂")).to_have_count(1)
    page.fill(".emoji-picker-search", "赞")
    expect(grid).to_have_count(1)
    page.press(".emoji-picker-search", "Enter")
    expect(message.locator(".reaction", has_text="👍")).to_contain_text("1")

    # The composer's ":" suggestions too, from one Chinese character.
    page.fill("#composer-input", "太好了 :笑")
    suggestions = page.locator("#composer-input-suggestions [role=option]")
    expect(suggestions.filter(has_text="😂")).to_have_count(1)
