"""Two people in two browser contexts see each other's changes live, both ways."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.playwright_api import expect

pytestmark = pytest.mark.browser


def unread_in_title(title: str) -> int:
    """The total the tab title shows: "(3) general · Enclave" -> 3."""
    match = re.match(r"^\((\d+)\) ", title)
    return int(match.group(1)) if match else 0


def test_messages_threads_reactions_edits_deletions_and_unread_propagate_live(
    open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    tag = uuid.uuid4().hex[:8]
    channel = api_for("alice").create_channel(members=("bob",))
    other = api_for("alice").create_channel(members=("bob",))
    alice = open_app("alice", channel_id=channel["id"])
    bob = open_app("bob", channel_id=channel["id"])

    # A posts, B sees it live.
    hello = f"hello bob {tag}"
    alice.send(hello)
    expect(bob.message(hello)).to_have_count(1)
    expect(alice.message(hello)).to_have_count(1)

    # B replies in a thread; A's thread panel, already open on the message, updates.
    alice.message(hello).hover()
    alice.message(hello).locator("[data-act=reply]").click()
    expect(alice.page.locator("#thread-panel")).to_be_visible()
    bob.message(hello).hover()
    bob.message(hello).locator("[data-act=reply]").click()
    reply = f"thread reply {tag}"
    bob.send(reply, "#thread-composer-input")
    expect(alice.message(reply, "#thread-list")).to_have_count(1)
    expect(alice.message(hello).locator(".thread-summary")).to_contain_text("1")
    alice.page.keyboard.press("Escape")
    expect(alice.page.locator("#thread-panel")).to_be_hidden()

    # A reacts, B sees it; B adds the same reaction, A sees the count go to 2.
    alice.message(hello).hover()
    alice.message(hello).locator("[data-act=react]").click()
    alice.page.click(".emoji-picker button[data-emoji='🎉']")
    bob_reaction = bob.message(hello).locator(".reaction", has_text="🎉")
    expect(bob_reaction).to_contain_text("1")
    bob_reaction.click()
    expect(alice.message(hello).locator(".reaction", has_text="🎉")).to_contain_text("2")

    # B edits their reply in the thread panel... and a main-pane message; A sees the edits.
    mine = f"bob's message {tag}"
    bob.page.keyboard.press("Escape")
    bob.send(mine)
    expect(alice.message(mine)).to_have_count(1)
    bob.message(mine).hover()
    bob.message(mine).locator("[data-act=edit]").click()
    bob.page.fill(".msg-edit-input", f"{mine} edited")
    bob.page.press(".msg-edit-input", "Enter")
    expect(alice.message(f"{mine} edited").locator(".msg-edited")).to_have_count(1)

    # A edits theirs (Up in the empty composer edits my last message); B sees it.
    alice.page.focus("#composer-input")
    alice.page.keyboard.press("ArrowUp")
    alice.page.fill(".msg-edit-input", f"{hello} (changed)")
    alice.page.press(".msg-edit-input", "Enter")
    expect(bob.message(f"{hello} (changed)")).to_have_count(1)

    # Deletions, both ways.
    for actor, watcher, text in (
        (bob, alice, f"{mine} edited"),
        (alice, bob, f"{hello} (changed)"),
    ):
        actor.page.once("dialog", lambda dialog: dialog.accept())
        actor.message(text).hover()
        actor.message(text).locator("[data-act=delete]").click()
        expect(watcher.message(text)).to_have_count(0)
        expect(actor.message(text)).to_have_count(0)

    # Unread badges, both ways: each reads another channel while the other posts here.
    for reader, poster in ((alice, bob), (bob, alice)):
        reader.sidebar_link(other["id"]).click()
        reader.wait_channel_open(other["id"])
        before = unread_in_title(reader.page.title())
        text = f"unread for {reader.username} {tag}"
        poster.send(text)
        badge = reader.sidebar_link(channel["id"]).locator(".badge")
        expect(badge).to_have_text("1")
        expect(reader.page).to_have_title(re.compile(rf"^\({before + 1}\) "))
        reader.sidebar_link(channel["id"]).click()
        expect(reader.message(text)).to_have_count(1)
        expect(badge).to_have_count(0)
        expect(reader.page).to_have_title(re.compile(rf"^\({before}\) " if before else r"^[^(]"))
