"""Every dialog of the web client at phone width (360 px), in English (the longer words): it
opens from where a phone user reaches it, fits the screen, its own content does not run off
sideways, and it closes again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.playwright_api import expect
from tests.e2e.test_phone import OVERFLOW, PHONE

pytestmark = pytest.mark.browser

SIDEBAR = "[data-action=toggle-sidebar]"
USER_MENU = ".user-menu-summary"

# dialog id -> the clicks that open it (from a channel, with the sidebar closed)
DIALOGS = {
    "inbox-dialog": [SIDEBAR, "#inbox-open"],
    "saved-dialog": [SIDEBAR, "#saved-open"],
    "search-dialog": [SIDEBAR, "[data-action=open-search]"],
    "switcher-dialog": [SIDEBAR, "[data-action=open-switcher]"],
    "channel-dialog": [SIDEBAR, "[data-action=open-channel-dialog]"],
    "dm-dialog": [SIDEBAR, "[data-action=open-dm-dialog]"],
    "settings-dialog": [SIDEBAR, USER_MENU, "[data-action=open-settings]"],
    "status-dialog": [SIDEBAR, USER_MENU, "#open-status"],
    "reminders-dialog": [SIDEBAR, USER_MENU, "[data-action=open-reminders]"],
    "shortcuts-dialog": [SIDEBAR, USER_MENU, "[data-action=open-shortcuts]"],
    "pins-dialog": ["#pins-toggle"],
    "details-dialog": ["#details-toggle"],
}

# The visible elements of a dialog that stick out of its sides (a horizontal scroll bar inside
# it counts as sticking out too: a phone user would have to find it).
STICKING_OUT = """(id) => {
  const dialog = document.getElementById(id);
  const edge = dialog.getBoundingClientRect();
  const out = [];
  for (const element of dialog.querySelectorAll("*")) {
    const box = element.getBoundingClientRect();
    if (!box.width || !box.height || getComputedStyle(element).visibility === "hidden") continue;
    const scrolls = element.scrollWidth - element.clientWidth > 1
      && ["auto", "scroll"].includes(getComputedStyle(element).overflowX);
    if (box.left < edge.left - 1 || box.right > edge.right + 1 || scrolls) {
      const name = `${element.tagName.toLowerCase()}#${element.id}.${element.className}`;
      out.push(`${name} ${Math.round(box.left)}-${Math.round(box.right)}`);
    }
  }
  return out;
}"""


@pytest.mark.parametrize("dialog_id", list(DIALOGS))
def test_dialog_fits_a_phone(
    dialog_id: str,
    open_app: Callable[..., Any],
    api_for: Callable[[str], Any],
    artifacts: Any,
) -> None:
    channel = api_for("alice").create_channel(members=("bob",))
    api_for("alice").send(channel["id"], "A message to pin, save and be reminded of")
    phone = open_app("bob", channel_id=channel["id"], viewport=PHONE)
    page = phone.page

    for selector in DIALOGS[dialog_id]:
        page.click(selector)
    dialog = page.locator(f"#{dialog_id}")
    expect(dialog).to_be_visible()

    box = dialog.bounding_box()
    assert box is not None
    assert box["x"] >= 0, box
    assert box["x"] + box["width"] <= PHONE["width"], box
    sticking_out = page.evaluate(STICKING_OUT, dialog_id)
    assert not sticking_out, "\n".join(sticking_out)
    assert page.evaluate(OVERFLOW) <= 0
    page.screenshot(path=str(artifacts / f"phone-{dialog_id}.png"))

    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
