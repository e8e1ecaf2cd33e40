"""Profile and settings: display name, time zone and language, applied without losing the page."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

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
    # Recent messages read "now"; the title holds the full time in the user's zone.
    time_before = page.locator("#message-list .msg-time").first.get_attribute("title")

    page.click(".user-menu-summary")
    page.click("[data-action=open-settings]")
    expect(page.locator("#settings-dialog")).to_be_visible()
    expect(page.locator("#settings-time-zone")).to_have_value(me["time_zone"])
    page.fill("#settings-display-name", "Lina Li")
    page.select_option("#settings-time-zone", other_zone)
    page.click("#settings-form button[type=submit]")
    expect(page.locator("#settings-dialog")).to_be_hidden()
    expect(page.locator(".user-menu-name")).to_have_text("Lina Li")
    expect(page.locator("#message-list .msg-time").first).not_to_have_attribute(
        "title", time_before
    )
    saved = api_for("lina").get("users/me/")
    assert (saved["display_name"], saved["time_zone"]) == ("Lina Li", other_zone)

    # Language: the page comes back in Chinese.
    page.click(".user-menu-summary")
    page.click("[data-action=open-settings]")
    page.select_option("#settings-language", "zh-hans")
    page.click("#settings-form button[type=submit]")
    expect(page.locator("#channels-heading")).to_have_text("频道")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")


@pytest.mark.parametrize(
    ("username", "locale", "words"), [("alice", "en-US", "China"), ("zhangwei", "zh-CN", "中国")]
)
def test_time_zones_are_listed_by_readable_name_with_their_utc_offset(
    open_app: Callable[..., Any], username: str, locale: str, words: str
) -> None:
    app = open_app(username, locale=locale)
    page = app.page

    page.click(".user-menu-summary")
    page.click("[data-action=open-settings]")
    shanghai = page.locator("#settings-time-zone option[value='Asia/Shanghai']")
    expect(shanghai).to_contain_text("UTC+08:00")
    expect(shanghai).to_contain_text(words)
    expect(shanghai).not_to_contain_text("Asia/Shanghai")
    expect(page.locator("#settings-time-zone option[value='UTC']")).to_have_count(1)


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


def test_recent_message_shows_a_relative_time_with_the_full_time_in_its_title(
    open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    channel = api_for("alice").create_channel(members=("carol",))
    api_for("carol").send(channel["id"], "just now")
    page = open_app("alice", channel_id=channel["id"]).page

    time = page.locator("#message-list .msg-time").first
    expect(time).to_have_text("now")
    expect(time).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT"))
    expect(time).to_have_attribute("title", re.compile(r"\d{4}"))
    # A minute later (the clock moved on in the page), the refresh says so.
    page.evaluate(
        """async () => {
            const { refreshRelativeTimes } = await import("/static/js/relative-time.js");
            const realNow = Date.now;
            Date.now = () => realNow() + 3 * 60_000;
            refreshRelativeTimes();
            Date.now = realNow;
        }"""
    )
    expect(time).to_have_text("3 minutes ago")


def test_relative_time_follows_the_page_language(
    open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    channel = api_for("alice").create_channel(members=("zhangwei",))
    api_for("alice").send(channel["id"], "刚刚")
    page = open_app("zhangwei", channel_id=channel["id"], locale="zh-CN").page
    expect(page.locator("#message-list .msg-time").first).to_have_text("现在")


def test_user_uploads_a_picture_that_replaces_the_initials(
    open_app: Callable[..., Any], api_for: Callable[[str], Any], tmp_path: Path
) -> None:
    channel = api_for("alice").create_channel(members=("carol",))
    carol = open_app("carol", channel_id=channel["id"])
    page = carol.page
    carol.send("my face, soon")
    expect(carol.message("my face, soon").locator("span.avatar")).to_be_visible()
    picture = tmp_path / "face.png"
    Image.new("RGB", (300, 200), "orange").save(picture)

    page.click(".user-menu-summary")
    page.click("[data-action=open-settings]")
    page.set_input_files("#settings-avatar", str(picture))
    expect(page.locator("#settings-avatar-preview img.avatar")).to_be_visible()
    expect(page.locator("#settings-avatar-remove")).to_be_visible()
    expect(carol.message("my face, soon").locator("img.avatar")).to_have_attribute(
        "src", re.compile(r"^/media/avatars/.+\.png$")
    )
    assert api_for("carol").get("users/me/")["avatar_url"]

    page.click("#settings-avatar-remove")
    expect(page.locator("#settings-avatar-remove")).to_be_hidden()
    expect(carol.message("my face, soon").locator("span.avatar")).to_be_visible()
    assert api_for("carol").get("users/me/")["avatar_url"] is None


def test_settings_link_to_the_password_page(
    open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    page = open_app("carol").page
    page.click(".user-menu-summary")
    page.click("[data-action=open-settings]")
    page.click("#settings-password-link")
    expect(page.locator("h1")).to_have_text("Change your password")
    expect(page.locator("#id_old_password")).to_be_visible()
