"""Managing a channel from its details dialog: members, invite, remove, rename, leave, archive."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.playwright_api import expect

pytestmark = pytest.mark.browser


def test_admin_manages_members_name_topic_and_archive_and_others_follow_live(
    open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    channel = api_for("alice").create_channel(members=("bob",))
    alice = open_app("alice", channel_id=channel["id"])
    bob = open_app("bob", channel_id=channel["id"])
    carol = open_app("carol")
    page = alice.page
    members = page.locator("#details-member-list")

    page.click("#details-toggle")
    expect(page.locator("#details-dialog")).to_be_visible()
    expect(members.locator(".pick-row")).to_have_count(2)
    expect(members).to_contain_text("Bob Smith")

    # Invite: carol's sidebar shows the channel without a reload.
    page.fill("#details-invite-filter", "carol")
    page.click("#details-invite-list button[data-invite]")
    expect(members.locator(".pick-row")).to_have_count(3)
    expect(carol.sidebar_link(channel["id"])).to_have_count(1)

    # Remove: and it is gone again.
    members.locator(".pick-row", has_text="Carol").locator("[data-remove]").click()
    expect(members.locator(".pick-row")).to_have_count(2)
    expect(carol.sidebar_link(channel["id"])).to_have_count(0)

    # Rename and set the topic: bob's header and sidebar follow.
    new_name = f"{channel['name']}-renamed"
    page.fill("#details-name", new_name)
    page.fill("#details-topic", "Quarterly planning")
    page.click("#details-form button[type=submit]")
    expect(page.locator("#details-dialog")).to_be_hidden()
    expect(bob.page.locator("#conversation-title")).to_have_text(new_name)
    expect(bob.page.locator("#conversation-topic")).to_have_text("Quarterly planning")
    expect(bob.sidebar_link(channel["id"])).to_contain_text(new_name)

    # A member who is not an admin sees the members but cannot manage them (adding people to a
    # public channel is another matter: test_member_adds_people_to_a_public_channel_...).
    bob.page.click("#details-toggle")
    expect(bob.page.locator("#details-member-list .pick-row")).to_have_count(2)
    expect(bob.page.locator("#details-member-list [data-remove]")).to_have_count(0)
    expect(bob.page.locator("#details-archive")).to_be_hidden()

    # Leave: bob's sidebar drops it, alice's member count follows when she looks again.
    bob.page.once("dialog", lambda dialog: dialog.accept())
    bob.page.click("#details-leave")
    expect(bob.sidebar_link(channel["id"])).to_have_count(0)
    page.click("#details-toggle")
    expect(members.locator(".pick-row")).to_have_count(1)

    # Archive: the composer gives way to the archived notice.
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#details-archive")
    expect(page.locator("#composer-disabled")).to_be_visible()
    expect(page.locator("#composer")).to_be_hidden()
    assert api_for("alice").get(f"channels/{channel['id']}/")["is_archived"] is True


def test_member_adds_people_to_a_public_channel_and_reads_what_they_may_not_change(
    open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    alice_api = api_for("alice")
    public = alice_api.create_channel(members=("bob",))
    private = alice_api.create_channel(members=("bob",), private=True)
    bob = open_app("bob", channel_id=public["id"])
    page = bob.page
    members = page.locator("#details-member-list")

    # The organisation's default lets members add people, and the server accepts it.
    page.click("#details-toggle")
    expect(page.locator("#details-invite")).to_be_visible()
    page.fill("#details-invite-filter", "carol")
    page.click("#details-invite-list button[data-invite]")
    expect(members.locator(".pick-row")).to_have_count(3)
    expect(members).to_contain_text("Carol Johnson")

    # Name and topic are shown as text, not as fields that refuse to be edited.
    expect(page.locator("#details-name")).to_be_hidden()
    expect(page.locator("#details-form button[type=submit]")).to_be_hidden()
    about = page.locator("#details-about")
    expect(about).to_be_visible()
    expect(about.locator("#details-about-name")).to_have_text(public["name"])
    expect(about.locator("#details-about-topic")).to_have_text("No topic")
    page.keyboard.press("Escape")

    # A private channel: only its admins add people (the server refuses members).
    bob.page.goto(f"{bob.base_url}/c/{private['id']}/")
    bob.wait_channel_open(private["id"])
    page.click("#details-toggle")
    expect(members.locator(".pick-row")).to_have_count(2)
    expect(page.locator("#details-invite")).to_be_hidden()


def test_quick_switcher_opens_a_channel_and_starts_a_direct_message_by_keyboard(
    open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    start = api_for("alice").create_channel(members=("bob",))
    target = api_for("alice").create_channel(members=("bob",))
    bob = open_app("bob", channel_id=start["id"])
    page = bob.page

    page.focus("#composer-input")
    page.keyboard.press("Control+k")
    expect(page.locator("#switcher-dialog")).to_be_visible()
    page.keyboard.type(target["name"])
    expect(page.locator("#switcher-list [role=option]")).to_have_count(1)
    page.keyboard.press("Enter")
    bob.wait_channel_open(target["id"])
    expect(page.locator("#switcher-dialog")).to_be_hidden()

    # A person: Enter opens (or starts) the direct message with them.
    page.keyboard.press("Control+k")
    page.keyboard.type("liuyang")
    expect(page.locator("#switcher-list [role=option]").first).to_contain_text("刘洋")
    page.keyboard.press("Enter")
    expect(page.locator("#conversation-title")).to_have_text("刘洋")

    # Esc closes without moving.
    page.keyboard.press("Control+k")
    page.keyboard.type(start["name"])
    page.keyboard.press("Escape")
    expect(page.locator("#switcher-dialog")).to_be_hidden()
    expect(page.locator("#conversation-title")).to_have_text("刘洋")


def test_direct_messages_are_ordered_by_the_latest_message(
    open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    channel = api_for("alice").create_channel(members=("wangfang",))
    wangfang = open_app("wangfang", channel_id=channel["id"])
    dms = wangfang.page.locator("#dm-list .conversation-link")
    for sender in ("carol", "liuyang", "carol"):
        api = api_for(sender)
        dm = api.post("direct/", {"user_ids": [api.user_id("wangfang")]})
        api.send(dm["id"], f"hi from {sender}")
        expect(dms.first).to_have_attribute("data-channel-id", str(dm["id"]))


def test_quick_switcher_finds_a_direct_message_by_username_and_public_channels_not_joined(
    open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    carol_api = api_for("carol")
    carol_api.post("direct/", {"user_ids": [carol_api.user_id("zhangwei")]})
    unjoined = api_for("alice").create_channel()  # public, carol is not in it
    carol = open_app("carol")
    page = carol.page
    options = page.locator("#switcher-list [role=option]")

    # The DM with 张伟 exists: his username still finds it (the conversation, not a new one).
    page.keyboard.press("Control+k")
    page.keyboard.type("zhangwei")
    expect(options).to_have_count(1)
    expect(options.first).to_contain_text("张伟")
    page.keyboard.press("Escape")

    # A public channel carol has not joined: found, and opened to read (and join).
    page.keyboard.press("Control+k")
    page.keyboard.type(unjoined["name"])
    expect(options).to_have_count(1)
    expect(options.first).to_contain_text(unjoined["name"])
    page.keyboard.press("Enter")
    expect(page.locator("#conversation-title")).to_have_text(unjoined["name"])
    expect(page.locator("#join-bar")).to_be_visible()
