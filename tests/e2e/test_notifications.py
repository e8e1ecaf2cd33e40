"""Desktop notifications: asked for politely, shown for DMs and mentions, per-channel level."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.playwright_api import expect

pytestmark = pytest.mark.browser

# A Notification that records instead of showing, with permission granted, in a tab that has
# lost the focus (the page notifies only when the user is elsewhere).
FAKE_NOTIFICATIONS = """
window.__notified = [];
class FakeNotification {
  static permission = "granted";
  static requestPermission() { return Promise.resolve("granted"); }
  constructor(title, options) { window.__notified.push({title, body: options.body}); }
  addEventListener() {}
  close() {}
}
window.Notification = FakeNotification;
document.hasFocus = () => false;
"""

# A function, not an expression: an expression would be eval'd, which the page's CSP forbids.
NOTIFIED_WITH = "(text) => window.__notified.some(n => n.body.includes(text))"


def test_notifications_for_dms_and_mentions_honour_the_channel_level(
    open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    tag = uuid.uuid4().hex[:8]
    channel = api_for("bob").create_channel(members=("alice",))
    alice = open_app("alice", channel_id=channel["id"])
    alice.page.add_init_script(FAKE_NOTIFICATIONS)
    alice.open(channel["id"])
    expect(alice.page.locator("#notify-prompt")).to_be_hidden()  # already granted
    notified = "() => window.__notified.map(n => n.body)"

    bob_api = api_for("bob")
    alice_id = bob_api.user_id("alice")
    dm = bob_api.post("direct/", {"user_ids": [alice_id]})
    bob_api.send(channel["id"], f"chatter {tag}")
    bob_api.send(dm["id"], f"direct {tag}")
    bob_api.send(channel["id"], f"@alice look {tag}")
    alice.page.wait_for_function(NOTIFIED_WITH, arg=f"look {tag}")
    bodies = alice.page.evaluate(notified)
    assert f"direct {tag}" in bodies
    assert not any(f"chatter {tag}" in body for body in bodies)

    # "Nothing" for this channel: even a mention stays quiet; "all": every message shows.
    alice.page.click("#details-toggle")
    level = alice.page.locator("#details-notify")
    # Disabled while the setting is being saved (synchronously on change), enabled once applied.
    level.select_option("nothing")
    expect(level).to_be_enabled()
    bob_api.send(channel["id"], f"@alice again {tag}")
    expect(alice.message(f"again {tag}")).to_have_count(1)  # arrived under "nothing"
    level.select_option("all")
    expect(level).to_be_enabled()
    expect(alice.page.locator("#notices")).to_contain_text("saved")
    bob_api.send(channel["id"], f"everything {tag}")
    alice.page.wait_for_function(NOTIFIED_WITH, arg=f"everything {tag}")
    assert not any(f"again {tag}" in body for body in alice.page.evaluate(notified))


def test_notification_shows_the_rendered_text_with_names_not_markdown(
    open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    tag = uuid.uuid4().hex[:8]
    bob_api = api_for("bob")
    channel = bob_api.create_channel(members=("alice", "zhangwei"))
    alice = open_app("alice", channel_id=channel["id"])
    alice.page.add_init_script(FAKE_NOTIFICATIONS)
    alice.open(channel["id"])
    alice.wait_socket_ready()

    bob_api.send(channel["id"], f"**Release {tag}** is _ready_, @alice and @zhangwei:\n\n- `v2.1`")

    alice.page.wait_for_function(NOTIFIED_WITH, arg=f"Release {tag}")
    [body] = [
        body
        for body in alice.page.evaluate("() => window.__notified.map(n => n.body)")
        if tag in body
    ]
    assert body == f"Release {tag} is ready, @Alice Chen and @张伟:\nv2.1"


def test_permission_is_asked_only_through_a_dismissible_prompt(
    open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    channel = api_for("alice").create_channel()
    alice = open_app("alice", channel_id=channel["id"])
    prompt = alice.page.locator("#notify-prompt")
    expect(prompt).to_be_visible()
    alice.page.click("#notify-dismiss")
    expect(prompt).to_be_hidden()
    alice.open(channel["id"])
    expect(prompt).to_be_hidden()


def test_mute_and_level_changed_in_one_tab_show_in_the_other(
    open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    channel = api_for("bob").create_channel(members=("alice",))
    first = open_app("alice", channel_id=channel["id"])
    second = open_app("alice", channel_id=channel["id"])
    second.wait_socket_ready()  # a push sent before its socket is up would not reach it
    first.page.click("#mute-toggle")
    expect(first.page.locator("#mute-toggle")).to_have_attribute("aria-pressed", "true")
    # The other tab learns it from the server's push, without a reload.
    expect(second.sidebar_link(channel["id"])).to_have_class(re.compile(r"\bis-muted\b"))
    expect(second.page.locator("#mute-toggle")).to_have_attribute("aria-pressed", "true")
    # The other tab's details dialog is open (focus in its name form): its level follows too.
    second.page.click("#details-toggle")
    first.page.click("#details-toggle")
    first.page.locator("#details-notify").select_option("mentions")
    expect(second.page.locator("#details-notify")).to_have_value("mentions")
