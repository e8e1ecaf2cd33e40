"""What a browser must never show: other people's private channels, or injected markup."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.playwright_api import expect

pytestmark = pytest.mark.browser

FETCH_STATUS = """async (url) => (await fetch(url, {credentials: "same-origin"})).status"""


def test_non_member_cannot_see_open_or_read_a_private_channel(
    open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    secret = f"secret plans {uuid.uuid4().hex[:8]}"
    private = api_for("alice").create_channel(members=("bob",), private=True)
    api_for("alice").send(private["id"], secret)
    public = api_for("alice").create_channel(members=("carol",))

    member = open_app("bob", channel_id=private["id"])
    expect(member.message(secret)).to_have_count(1)

    carol = open_app("carol", channel_id=public["id"])
    expect(carol.sidebar_link(private["id"])).to_have_count(0)
    expect(carol.page.locator("#sidebar")).not_to_contain_text(private["name"])

    # Its URL: the page does not show it, and says so.
    carol.page.goto(f"{carol.base_url}/c/{private['id']}/")
    carol.page.wait_for_selector("#app:not(.is-loading)")
    expect(carol.page.locator("#notices")).not_to_be_empty()
    expect(carol.page.locator("#conversation-title")).not_to_have_text(private["name"])
    expect(carol.page.locator("body")).not_to_contain_text(secret)
    expect(carol.page.locator("#message-list article", has_text=secret)).to_have_count(0)

    # The page's own requests (its session cookie) are refused like an unknown channel.
    for path in (
        f"/api/v1/channels/{private['id']}/",
        f"/api/v1/channels/{private['id']}/messages/",
        f"/api/v1/channels/{private['id']}/members/",
    ):
        assert carol.page.evaluate(FETCH_STATUS, path) == 404, path


def test_script_posted_as_a_message_renders_as_text(
    open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    channel = api_for("alice").create_channel(members=("bob",))
    alice = open_app("alice", channel_id=channel["id"])
    bob = open_app("bob", channel_id=channel["id"])
    dialogs: list[str] = []
    for app in (alice, bob):
        app.page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    tag = uuid.uuid4().hex[:8]
    payload = (
        f'xss-{tag} <img src=x onerror="alert(1)" id="xss-img"> '
        '<script id="xss-script">alert(2)</script> <a href="javascript:alert(3)" id="xss-a">x</a>'
        ' <svg onload="alert(4)" id="xss-svg"></svg> [link](javascript:alert(5))'
    )
    dangerous = "img, script, svg, iframe, [onerror], [onload], a[href^='javascript']"
    alice.send(payload)
    for app in (alice, bob):
        article = app.message(f"xss-{tag}")
        expect(article).to_have_count(1)
        expect(article.locator(".msg-body")).to_contain_text('<img src=x onerror="alert(1)"')
        expect(article.locator(".msg-body")).to_contain_text("<script")
        expect(article.locator(".msg-body").locator(dangerous)).to_have_count(0)
        assert app.page.locator("#xss-img, #xss-script, #xss-a, #xss-svg").count() == 0
    # Reload: the stored history renders the same way.
    bob.open(channel["id"])
    expect(bob.message(f"xss-{tag}")).to_have_count(1)
    expect(bob.message(f"xss-{tag}").locator(".msg-body").locator(dangerous)).to_have_count(0)
    assert bob.page.locator("#xss-img, #xss-script, #xss-a, #xss-svg").count() == 0
    assert dialogs == []
