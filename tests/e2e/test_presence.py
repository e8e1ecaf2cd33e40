"""Presence in the browser: a tab watches the people it shows and sees them come and go live."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.playwright_api import expect

pytestmark = pytest.mark.browser


def test_a_dm_partner_goes_online_and_offline_live(
    open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    api = api_for("liuyang")
    partner_id = api.user_id("lina")
    dm = api.post("direct/", {"user_ids": [partner_id]})
    watcher = open_app("liuyang")
    # Not open_app(channel_id=...): the demo data may already hold this DM's history.
    watcher.page.goto(f"{watcher.base_url}/c/{dm['id']}/")
    watcher.page.wait_for_selector(
        f'a[data-channel-id="{dm["id"]}"][aria-current="page"]', state="attached"
    )
    dot = watcher.sidebar_link(dm["id"]).locator(f"[data-presence-user='{partner_id}']")
    expect(dot).to_have_attribute("data-status", "offline")

    partner = open_app("lina")

    expect(dot).to_have_attribute("data-status", "online")
    partner.page.context.close()
    expect(dot).to_have_attribute("data-status", "offline")


def test_new_direct_message_picker_says_the_status_its_dot_shows(
    open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    channel = api_for("alice").create_channel()
    alice = open_app("alice", channel_id=channel["id"])
    page = alice.page
    page.click('[data-action="open-dm-dialog"]')
    page.fill("#people-filter", "wangfang")
    row = page.locator("#people-list .pick-row", has_text="王芳")
    expect(row).to_have_count(1)

    # She comes online while the picker is open: the words follow the dot.
    wangfang = open_app("wangfang")
    wangfang.wait_socket_ready()
    expect(row.locator("[data-presence-user]")).to_have_attribute("data-status", "online")
    expect(row.locator(".pick-detail")).to_have_text("@wangfang · Online")
