"""The Chinese interface, IME composition in the composer, and the main screen in both languages."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.playwright_api import expect

pytestmark = pytest.mark.browser

KEYDOWN_ENTER = {"key": "Enter", "code": "Enter", "bubbles": True, "cancelable": True}


def test_chinese_user_sees_chinese_and_ime_enter_only_commits(
    open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    channel = api_for("alice").create_channel(members=("zhangwei",))
    zhang = open_app("zhangwei", channel_id=channel["id"], locale="zh-CN")
    alice = open_app("alice", channel_id=channel["id"])
    page = zhang.page

    # Every layer speaks Chinese: the template, the JavaScript catalog, the document language.
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("#channels-heading")).to_have_text("频道")
    expect(page.locator("#dms-heading")).to_have_text("私信")
    expect(page.locator("#composer-input")).to_have_attribute(
        "placeholder", f"发消息到 #{channel['name']}"
    )

    # Pinyin being composed: Enter picks a candidate, it must not send anything.
    composer = "#composer-input"
    page.focus(composer)
    page.dispatch_event(composer, "compositionstart", {"data": ""})
    for partial in ("n", "ni", "ni h", "ni hao"):
        page.fill(composer, partial)
        page.dispatch_event(composer, "compositionupdate", {"data": partial})
    page.dispatch_event(composer, "keydown", {**KEYDOWN_ENTER, "isComposing": True})
    page.dispatch_event(composer, "keydown", {**KEYDOWN_ENTER, "keyCode": 229})
    expect(page.locator(composer)).to_have_value("ni hao")

    # The IME commits the characters; only the next Enter sends.
    committed = f"你好，世界 {uuid.uuid4().hex[:6]}"
    page.fill(composer, committed)
    page.dispatch_event(composer, "compositionend", {"data": committed})
    expect(page.locator("#message-list article")).to_have_count(0)
    assert alice.message("ni hao").count() == 0
    page.press(composer, "Enter")
    expect(zhang.message(committed)).to_have_count(1)
    expect(alice.message(committed)).to_have_count(1)
    expect(page.locator(composer)).to_have_value("")
    # Nothing half-composed was ever stored.
    bodies = [m["body"] for m in api_for("alice").history(channel["id"])]
    assert bodies == [committed]


@pytest.mark.parametrize(
    ("username", "locale", "heading"),
    [("alice", "en-US", "Channels"), ("zhangwei", "zh-CN", "频道")],
)
def test_main_screen_screenshot(
    open_app: Callable[..., Any],
    api_for: Callable[[str], Any],
    artifacts: Path,
    username: str,
    locale: str,
    heading: str,
) -> None:
    channels = api_for(username).get("channels/")
    general = next(c for c in channels if c["name"] == "general")
    app = open_app(username, locale=locale)
    app.sidebar_link(general["id"]).click()
    expect(app.page.locator("#message-list article[data-message-id]").first).to_be_visible()
    expect(app.page.locator("#channels-heading")).to_have_text(heading)
    app.page.screenshot(path=str(artifacts / f"main-screen-{locale}.png"))
    assert (artifacts / f"main-screen-{locale}.png").stat().st_size > 10_000
