"""Custom status and do-not-disturb in the browser: one person sets them from the account menu,
the other sees them live in their DM (the status beside the name, "notifications paused" above
the composer)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.playwright_api import expect

pytestmark = pytest.mark.browser


def _reset(api: Any) -> None:
    for method, path, data in (
        ("delete", "users/me/status/", None),
        ("put", "users/me/dnd/", {"until": None}),
    ):
        response = getattr(api.request, method)(api.base + path, headers=api.headers, data=data)
        assert response.ok, response.text()


def test_status_and_pause_reach_the_dm_partner_live(
    open_app: Callable[..., Any], api_for: Callable[[str], Any], artifacts: Path
) -> None:
    reader = api_for("liuyang")
    setter_id = reader.user_id("lina")
    _reset(api_for("lina"))
    dm = reader.post("direct/", {"user_ids": [setter_id]})
    watcher = open_app("liuyang")
    watcher.page.goto(f"{watcher.base_url}/c/{dm['id']}/")
    watcher.page.wait_for_selector(
        f'a[data-channel-id="{dm["id"]}"][aria-current="page"]', state="attached"
    )
    watcher.wait_socket_ready()
    sidebar_badge = watcher.sidebar_link(dm["id"]).locator(f"[data-status-user='{setter_id}']")
    header_badge = watcher.page.locator(f"#conversation-title [data-status-user='{setter_id}']")
    note = watcher.page.locator("#dnd-note")
    expect(sidebar_badge).to_be_hidden()
    expect(note).to_be_hidden()

    try:
        setter = open_app("lina")
        setter.wait_socket_ready()
        page = setter.page
        page.click(".user-menu-summary")
        page.click("#open-status")
        page.locator(".status-preset", has_text="开会中").click()  # 李娜 reads Chinese
        page.click("#status-save")
        expect(page.locator("#status-dialog")).not_to_be_visible()

        expect(sidebar_badge).to_have_text("📅")
        expect(header_badge).to_have_attribute("title", "📅 开会中")

        page.click(".user-menu-summary")
        page.click("#open-status")
        page.select_option("#dnd-duration", "60")
        page.click("#dnd-pause")
        expect(page.locator("#dnd-state")).to_contain_text("通知已暂停，直到")
        page.screenshot(path=artifacts / "user-status-dialog.png")
        page.keyboard.press("Escape")
        expect(page.locator("#my-status")).to_contain_text("通知已暂停")

        expect(note).to_be_visible()
        expect(note).to_contain_text("已暂停通知")  # 刘洋 reads Chinese too
        watcher.page.screenshot(path=artifacts / "user-status-dm.png")

        page.click(".user-menu-summary")
        page.click("#open-status")
        page.click("#dnd-resume")
        expect(note).to_be_hidden()
    finally:
        _reset(api_for("lina"))
