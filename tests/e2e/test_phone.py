"""A phone-sized window (360 px): the sidebar slides in and out, nothing overflows sideways."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.playwright_api import expect

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}
OVERFLOW = "() => document.scrollingElement.scrollWidth - window.innerWidth"


def test_phone_user_switches_channels_through_the_sidebar_and_posts(
    open_app: Callable[..., Any], api_for: Callable[[str], Any], artifacts: Any
) -> None:
    first = api_for("alice").create_channel(members=("zhangwei",))
    second = api_for("alice").create_channel(members=("zhangwei",))
    phone = open_app("zhangwei", channel_id=first["id"], locale="zh-CN", viewport=PHONE)
    page = phone.page
    expect(page.locator("#sidebar")).not_to_be_in_viewport()
    assert page.evaluate(OVERFLOW) <= 0

    page.click("[data-action=toggle-sidebar]")
    expect(page.locator("#sidebar")).to_be_in_viewport()
    phone.sidebar_link(second["id"]).click()
    phone.wait_channel_open(second["id"])
    expect(page.locator("#sidebar")).not_to_be_in_viewport()

    phone.send("手机上发的消息")
    expect(phone.message("手机上发的消息")).to_have_count(1)
    assert page.evaluate(OVERFLOW) <= 0
    page.screenshot(path=str(artifacts / "phone-zh-CN.png"))
