"""Dark mode: the system's colours by default, a choice in Settings that the server keeps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.playwright_api import expect

pytestmark = pytest.mark.browser

LIGHT_BACKGROUND = "rgb(255, 255, 255)"
DARK_BACKGROUND = "rgb(22, 24, 29)"  # --bg of the dark theme


def background(page: Any) -> str:
    return str(page.evaluate("getComputedStyle(document.body).backgroundColor"))


def test_colours_follow_the_system_by_default(open_app: Callable[..., Any]) -> None:
    page = open_app("wangfang").page
    expect(page.locator("html")).to_have_attribute("data-theme", "system")

    page.emulate_media(color_scheme="dark")
    assert background(page) == DARK_BACKGROUND
    page.emulate_media(color_scheme="light")
    assert background(page) == LIGHT_BACKGROUND


def test_chosen_theme_is_applied_at_once_and_kept_across_a_reload(
    open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    api = api_for("liuyang")
    app = open_app("liuyang")
    page = app.page
    page.emulate_media(color_scheme="light")
    try:
        page.click(".user-menu-summary")
        page.click("[data-action=open-settings]")
        expect(page.locator("#settings-theme")).to_have_value("system")
        page.select_option("#settings-theme", "dark")
        page.click("#settings-form button[type=submit]")
        expect(page.locator("#settings-dialog")).to_be_hidden()
        expect(page.locator("html")).to_have_attribute("data-theme", "dark")
        assert background(page) == DARK_BACKGROUND
        assert api.get("users/me/")["theme"] == "dark"

        page.reload()
        page.wait_for_selector("#app:not(.is-loading)")
        # Rendered by the server: dark from the first paint, whatever the system says.
        expect(page.locator("html")).to_have_attribute("data-theme", "dark")
        expect(page.locator('meta[name="color-scheme"]')).to_have_attribute("content", "dark")
        assert background(page) == DARK_BACKGROUND
        page.click(".user-menu-summary")
        page.click("[data-action=open-settings]")
        expect(page.locator("#settings-theme")).to_have_value("dark")
    finally:
        api.request.patch(f"{api.base}users/me/", headers=api.headers, data={"theme": "system"})


# The contrast of each visible element's text with the first opaque background behind it.
LOW_CONTRAST_JS = """
(selectors) => {
  const rgb = (value) => (value.match(/[\\d.]+/g) || []).map(Number);
  const channel = (c) => {
    c /= 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const backgroundOf = (element) => {
    for (let node = element; node; node = node.parentElement) {
      const [r, g, b, a = 1] = rgb(getComputedStyle(node).backgroundColor);
      if (a >= 0.99) return [r, g, b];
    }
    return [255, 255, 255];
  };
  const low = [];
  for (const selector of selectors) {
    for (const element of document.querySelectorAll(selector)) {
      if (!element.checkVisibility() || !element.textContent.trim()) continue;
      const l1 = luminance(rgb(getComputedStyle(element).color));
      const l2 = luminance(backgroundOf(element));
      const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
      const text = element.textContent.trim().slice(0, 30);
      if (ratio < 4.5) low.push(`${selector}: ${ratio.toFixed(2)} "${text}"`);
    }
  }
  return low;
}
"""
TEXT = [
    "#sidebar a",
    "#sidebar h2",
    ".user-menu-name",
    "#conversation-title",
    ".msg-author",
    ".msg-body",
    ".msg-body code",
    ".msg-time",
    "#composer-input",
    ".dialog h2",
    ".dialog h3",
    ".dialog label",
    ".dialog p",
    ".dialog dt",
    ".dialog dd",
    ".dialog select",
    ".dialog input",
    ".dialog .button",
    ".user-card p",
    ".user-card dt",
    ".user-card dd",
]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_screen_is_readable_in_both_themes(
    open_app: Callable[..., Any], api_for: Callable[[str], Any], artifacts: Any, scheme: str
) -> None:
    channel = api_for("alice").create_channel(members=("wangfang",))
    api_for("alice").send(channel["id"], "Readable? Try `code` and @wangfang")
    app = open_app("wangfang", channel_id=channel["id"])
    page = app.page
    page.emulate_media(color_scheme=scheme)

    assert page.evaluate(LOW_CONTRAST_JS, TEXT) == []
    page.screenshot(path=str(artifacts / f"theme-{scheme}-chat.png"))

    app.message("Readable?").locator("button.msg-author").click()
    expect(page.locator(".user-card dt").first).to_be_visible()
    assert page.evaluate(LOW_CONTRAST_JS, TEXT) == []
    page.keyboard.press("Escape")

    page.click(".user-menu-summary")
    page.click("[data-action=open-settings]")
    expect(page.locator("#settings-dialog")).to_be_visible()
    assert page.evaluate(LOW_CONTRAST_JS, TEXT) == []
    page.screenshot(path=str(artifacts / f"theme-{scheme}-settings.png"))
    page.keyboard.press("Escape")

    page.locator("#composer-input").focus()
    page.keyboard.press("Control+/")
    expect(page.locator("#shortcuts-dialog")).to_be_visible()
    assert page.evaluate(LOW_CONTRAST_JS, TEXT) == []
    page.screenshot(path=str(artifacts / f"theme-{scheme}-shortcuts.png"))


def test_help_desk_is_readable_in_the_dark(
    open_app: Callable[..., Any], e2e_server: Any, artifacts: Any
) -> None:
    e2e_server.shell(
        "from apps.accounts.models import User; from apps.ops.models import FeatureFlag; "
        "flag, _ = FeatureFlag.objects.get_or_create(name='helpdesk'); "
        "flag.users.add(User.objects.get(username='wangfang'))"
    )
    page = open_app("wangfang").page
    page.emulate_media(color_scheme="dark")

    page.goto(f"{e2e_server.url}/helpdesk/")
    page.wait_for_selector(".helpdesk-head h1")

    assert background(page) == DARK_BACKGROUND
    selectors = [".helpdesk-head a", ".helpdesk h1", ".helpdesk label", ".helpdesk button", "p"]
    assert page.evaluate(LOW_CONTRAST_JS, selectors) == []
    page.screenshot(path=str(artifacts / "theme-dark-helpdesk.png"))
