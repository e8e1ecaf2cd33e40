"""Permalinks: a link to a message opens its channel scrolled to it, from far back in history."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.playwright_api import expect

pytestmark = pytest.mark.browser

HISTORY_PAGE = 50  # static/js/sync.js PAGE_SIZE: the linked message is beyond the first page


def test_permalink_opens_an_old_message_and_a_thread_reply_and_copy_link_gives_it(
    open_app: Callable[..., Any], api_for: Callable[[str], Any], e2e_server: Any
) -> None:
    tag = uuid.uuid4().hex[:8]
    channel = api_for("alice").create_channel(members=("bob",))
    bob_api = api_for("bob")
    old = bob_api.send(channel["id"], f"the decision {tag}")
    # A page of history in one go (one subprocess, not one request per message).
    e2e_server.shell(
        "from apps.accounts.models import User; from apps.chat.services import message_send; "
        "bob = User.objects.get(username='bob'); "
        f"[message_send(sender=bob, channel_id={channel['id']}, body='filler %s {tag}' % n) "
        f"for n in range({HISTORY_PAGE + 5})]"
    )
    last = bob_api.send(channel["id"], f"last filler {tag}")
    reply = bob_api.send(channel["id"], f"a reply {tag}", thread_root_id=last["id"])

    alice = open_app("alice")
    alice.page.goto(f"{alice.base_url}/c/{channel['id']}/?m={old['id']}")
    linked = alice.message(f"the decision {tag}")
    expect(linked).to_be_in_viewport()
    expect(
        alice.page.locator(f'a[data-channel-id="{channel["id"]}"][aria-current=page]')
    ).to_have_count(1)

    # Copy link puts the same address on the clipboard.
    alice.page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    linked.hover()
    linked.locator("[data-act=copy-link]").click()
    expect(alice.page.locator("#notices")).to_contain_text("Link copied")
    copied = alice.page.evaluate("navigator.clipboard.readText()")
    assert copied == f"{alice.base_url}/c/{channel['id']}/?m={old['id']}"

    # A reply's link opens its thread.
    alice.page.goto(f"{alice.base_url}/c/{channel['id']}/?m={reply['id']}")
    expect(alice.page.locator("#thread-panel")).to_be_visible()
    expect(alice.message(f"a reply {tag}", "#thread-list")).to_have_count(1)

    # Someone who cannot read the channel gets a notice, not the message.
    private = api_for("alice").create_channel(private=True)
    hidden = api_for("alice").send(private["id"], f"private {tag}")
    carol = open_app("carol")
    carol.page.goto(f"{carol.base_url}/c/{private['id']}/?m={hidden['id']}")
    expect(carol.page.locator("#notices")).not_to_be_empty()
    expect(carol.page.locator("body")).not_to_contain_text(f"private {tag}")
