"""Message search in the web client (static/js/search.js): Chinese words inside sentences and
English words, only what the user may read, a result opens its conversation at the message."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.playwright_api import expect

pytestmark = pytest.mark.browser

SEARCH_PAGE = 20  # static/js/search.js PAGE_SIZE
CJK_DIGITS = "零一二三四五六七八九甲乙丙丁戊己"


def chinese_word(tag: str) -> str:
    """A word no other message contains: the tag's hex digits as Chinese characters."""
    return "".join(CJK_DIGITS[int(digit, 16)] for digit in tag)


def test_search_finds_a_chinese_word_in_a_sentence_and_opens_the_message(
    open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    tag = uuid.uuid4().hex[:8]
    word = chinese_word(tag[:4])
    channel = api_for("alice").create_channel(members=("bob",))
    bob_api = api_for("bob")
    bob_api.send(channel["id"], f"我们明天下午在三楼{word}会议室开会")
    bob_api.send(channel["id"], f"The budget meeting {tag} moved to Monday")
    # Alice is not in this one: its message must never be shown to her.
    secret = bob_api.create_channel(private=True)
    bob_api.send(secret["id"], f"机密：{word}的预算 {tag}")

    alice = open_app("alice")  # another conversation (#general) is open
    page = alice.page
    page.click('[data-action="open-search"]')
    dialog = page.locator("#search-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#search-input")).to_be_focused()
    results = page.locator("#search-results [role=option]")
    status = page.locator("#search-status")

    # English: a word and the tag.
    page.fill("#search-input", f"budget {tag}")
    expect(results).to_have_count(1)
    expect(results.first).to_contain_text("The budget meeting")
    expect(results.first).to_contain_text("Bob Smith")
    expect(results.first).to_contain_text(f"#{channel['name']}")
    expect(status).to_have_text("1 message found")

    # Chinese: four characters from the middle of a sentence, marked in the result.
    page.fill("#search-input", word)
    expect(results).to_have_count(1)
    expect(results.first).to_contain_text("会议室开会")
    expect(results.first.locator("mark.search-hit")).to_have_text(word)
    expect(page.locator("#search-results")).not_to_contain_text("机密")
    expect(page.locator("#search-results")).not_to_contain_text("budget")

    # Nothing found, and the server's message for a query it refuses.
    page.fill("#search-input", f"nothing-{uuid.uuid4().hex}")
    expect(status).to_have_text("No messages match your search.")
    expect(results).to_have_count(0)
    page.fill("#search-input", "x" * 201)
    expect(status).to_have_text("A search is at most 200 characters.")
    expect(status).to_have_class(re.compile(r"\bsearch-status--error\b"))

    # Esc closes; the shortcut opens it again with the last search.
    page.fill("#search-input", word)
    expect(results).to_have_count(1)
    page.press("#search-input", "Escape")
    expect(dialog).to_be_hidden()
    page.keyboard.press("Control+Shift+F")
    expect(dialog).to_be_visible()
    expect(page.locator("#search-input")).to_have_value(word)
    expect(results).to_have_count(1)

    # A click opens the message in its conversation.
    results.first.click()
    expect(dialog).to_be_hidden()
    expect(alice.sidebar_link(channel["id"])).to_have_attribute("aria-current", "page")
    expect(alice.message(f"在三楼{word}会议室")).to_be_in_viewport()
    assert page.url.endswith(f"/c/{channel['id']}/")

    # Bob, who is in the private channel, finds both.
    bob = open_app("bob")
    bob.page.keyboard.press("Control+Shift+F")
    bob.page.fill("#search-input", word)
    expect(bob.page.locator("#search-results [role=option]")).to_have_count(2)


def test_search_pages_scopes_to_the_conversation_and_opens_with_the_keyboard_in_chinese(
    open_app: Callable[..., Any], api_for: Callable[[str], Any], e2e_server: Any
) -> None:
    tag = uuid.uuid4().hex[:8]
    zhang_api = api_for("zhangwei")
    weekly = zhang_api.create_channel()
    other = zhang_api.create_channel()
    count = SEARCH_PAGE + 5
    # A page and more in one go (one subprocess, not one request per message).
    e2e_server.shell(
        "from apps.accounts.models import User; from apps.chat.services import message_send; "
        "zhang = User.objects.get(username='zhangwei'); "
        f"[message_send(sender=zhang, channel_id={weekly['id']}, body='周报 {tag} 第%s条' % n) "
        f"for n in range({count})]"
    )
    zhang_api.send(other["id"], f"另一个频道的周报 {tag}")

    zhang = open_app("zhangwei", channel_id=weekly["id"], locale="zh-CN")
    page = zhang.page
    page.keyboard.press("Control+Shift+F")
    dialog = page.locator("#search-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#search-title")).to_have_text("搜索消息")
    results = page.locator("#search-results [role=option]")

    # Newest first, a page at a time.
    page.fill("#search-input", f"周报 {tag}")
    expect(results).to_have_count(SEARCH_PAGE)
    expect(results.first).to_contain_text("另一个频道")
    expect(page.locator("#search-status")).to_have_text(f"找到超过 {SEARCH_PAGE} 条消息")
    page.click("#search-more")
    expect(results).to_have_count(count + 1)
    expect(page.locator("#search-more")).to_be_hidden()

    # Only the open conversation.
    scope = page.locator("#search-scope")
    expect(scope).to_contain_text(f"仅在 #{weekly['name']}")
    scope.locator("input").check()
    expect(results).to_have_count(SEARCH_PAGE)
    expect(results.first).to_contain_text(f"第{count - 1}条")
    page.click("#search-more")
    expect(results).to_have_count(count)
    expect(page.locator("#search-results")).not_to_contain_text("另一个频道")

    # Arrows choose, Enter opens: the newest, in the other channel.
    scope.locator("input").uncheck()
    expect(results.first).to_contain_text("另一个频道")
    page.press("#search-input", "ArrowDown")
    expect(results.first).to_have_attribute("aria-selected", "true")
    page.press("#search-input", "Enter")
    expect(dialog).to_be_hidden()
    expect(zhang.sidebar_link(other["id"])).to_have_attribute("aria-current", "page")
    expect(zhang.message(f"另一个频道的周报 {tag}")).to_be_in_viewport()
