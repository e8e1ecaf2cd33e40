"""The inbox in the browser: unread mentions, replies to my threads and direct messages in one
list, marked read per conversation or all at once, kept current while open, each row opening
its message; and the same at phone width."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.playwright_api import expect
from tests.e2e.test_phone import OVERFLOW, PHONE

pytestmark = pytest.mark.browser

ROWS = "#inbox-list .inbox-row"


def waiting_for(api_for: Callable[[str], Any], reader: str, tag: str) -> dict[str, Any]:
    """In a channel of alice and `reader`: `reader`'s thread with alice's reply, alice's
    mention of `reader`, and a direct message from alice; everything older read."""
    api_for(reader).post("inbox/mark-all-read/", {})
    alice, them = api_for("alice"), api_for(reader)
    channel = alice.create_channel(members=(reader,))
    root = them.send(channel["id"], f"Plan for the launch {tag}")
    alice.send(channel["id"], f"Reply in your thread {tag}", thread_root_id=root["id"])
    alice.send(channel["id"], f"@{reader} can you check the figures {tag}")
    dm = alice.post("direct/", {"user_ids": [alice.user_id(reader)]})
    alice.send(dm["id"], f"A word in private {tag}")
    return {"channel": channel, "dm": dm}


def test_inbox_lists_what_waits_marks_it_read_and_opens_a_message(
    open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    tag = uuid.uuid4().hex[:6]
    where = waiting_for(api_for, "carol", tag)
    carol = open_app("carol")
    page = carol.page

    page.click("#inbox-open")
    expect(page.locator("#inbox-dialog")).to_be_visible()
    rows = page.locator(ROWS)
    expect(rows).to_have_count(3)
    reasons = {rows.nth(i).get_attribute("data-reason") for i in range(3)}
    assert reasons == {"mention", "reply", "direct"}
    mention = page.locator(f'{ROWS}[data-reason="mention"]')
    expect(mention).to_contain_text("Mentioned you")
    expect(mention).to_contain_text("@Carol Johnson can you check")  # names, not usernames

    # "Mark read" on the mention: its conversation (the reply too) leaves the inbox.
    page.click(f'{ROWS}[data-reason="mention"] [data-mark-read]')
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-reason", "direct")

    # While it is open, a new direct message arrives in it.
    api_for("alice").send(where["dm"]["id"], f"One more thing {tag}")
    expect(rows).to_have_count(2)

    page.click("#inbox-mark-all")
    expect(rows).to_have_count(0)
    expect(page.locator("#inbox-status")).to_contain_text("all caught up")
    expect(carol.sidebar_link(where["dm"]["id"]).locator(".badge")).to_have_count(0)

    # A row opens its message in its conversation.
    api_for("alice").send(where["channel"]["id"], f"@carol last one {tag}")
    page.click("[data-action=close-dialog] >> visible=true")
    page.click("#inbox-open")
    expect(rows).to_have_count(1)
    rows.first.locator("[data-open]").click()
    expect(page.locator("#inbox-dialog")).to_be_hidden()
    carol.wait_channel_open(where["channel"]["id"])
    expect(carol.message(f"last one {tag}")).to_be_visible()


def test_inbox_in_chinese_at_phone_width(
    open_app: Callable[..., Any], api_for: Callable[[str], Any], artifacts: Any
) -> None:
    tag = uuid.uuid4().hex[:6]
    waiting_for(api_for, "zhangwei", tag)
    phone = open_app("zhangwei", locale="zh-CN", viewport=PHONE)
    page = phone.page

    page.click("[data-action=toggle-sidebar]")
    page.click("#inbox-open")
    dialog = page.locator("#inbox-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#inbox-title")).to_have_text("收件箱")
    expect(page.locator(ROWS)).to_have_count(3)
    box = dialog.bounding_box()
    assert box is not None
    assert box["x"] >= 0, box
    assert box["x"] + box["width"] <= PHONE["width"], box
    for button in ("#inbox-mark-all", f"{ROWS} [data-mark-read] >> nth=0"):
        expect(page.locator(button)).to_be_in_viewport()
    assert page.evaluate(OVERFLOW) <= 0
    page.screenshot(path=str(artifacts / "inbox-phone-zh-CN.png"))
