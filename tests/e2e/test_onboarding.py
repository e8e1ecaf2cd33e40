"""A newly invited person lands in #general with a welcome, not in an empty workspace."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.conftest import EXPECT_TIMEOUT_MS
from tests.e2e.playwright_api import expect

pytestmark = pytest.mark.browser

PASSWORD = "a-long-and-unusual-passphrase-91"


def _invitation_link(e2e_server: Any, email: str) -> str:
    code = (
        "import json; from apps.accounts.models import Invitation; "
        "from apps.accounts.invitations import invitation_path; "
        f"print(json.dumps(invitation_path(Invitation.objects.get(email={email!r}))))"
    )
    return str(json.loads(e2e_server.shell(code).strip().splitlines()[-1]))


def _invite(browser: Any, e2e_server: Any, session_states: Any, email: str, channel: str) -> None:
    """alice (an administrator) invites `email` from the invitations page, into `channel`."""
    context = browser.new_context(storage_state=session_states("alice"))
    page = context.new_page()
    page.goto(f"{e2e_server.url}/accounts/invitations/")
    page.fill("#id_email", email)
    page.get_by_label(channel).check()
    page.click("form:has(#id_email) button[type=submit]")
    expect(page.get_by_role("status")).to_contain_text(email)
    context.close()


@pytest.mark.parametrize(
    ("locale", "welcome"), [("en-US", "Welcome to Enclave"), ("zh-CN", "欢迎加入 Enclave")]
)
def test_newly_invited_person_lands_in_general_with_the_welcome(
    browser: Any,
    e2e_server: Any,
    session_states: Callable[[str], dict[str, Any]],
    api_for: Callable[[str], Any],
    locale: str,
    welcome: str,
) -> None:
    team = api_for("alice").create_channel(members=())
    username = f"new{uuid.uuid4().hex[:8]}"
    email = f"{username}@example.com"
    _invite(browser, e2e_server, session_states, email, f"#{team['name']}")

    context = browser.new_context(locale=locale)
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(e2e_server.url + _invitation_link(e2e_server, email))
    page.fill("#id_username", username)
    page.fill("#id_display_name", "New Person")
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#app:not(.is-loading)")

    # Lands in #general (a default channel), with history to read, not "pick a channel".
    general = page.locator("#channel-list .conversation-link", has_text="general")
    expect(general).to_have_attribute("aria-current", "page")
    expect(page.locator("#history-status .empty-state")).to_have_count(0)
    expect(page.locator("#message-list article[data-message-id]").first).to_be_visible()
    # The channel chosen on the invitation is there too.
    expect(page.locator("#channel-list .conversation-link", has_text=team["name"])).to_be_visible()
    # The welcome: an unread direct message from the system, in the person's language.
    welcome_link = page.locator("#dm-list .conversation-link.is-unread", has_text="Enclave")
    expect(welcome_link).to_be_visible()
    welcome_link.click()
    expect(page.locator("#message-list article[data-message-id]", has_text=welcome)).to_be_visible()
    expect(page.locator("#message-list")).to_contain_text("#general")
    context.close()
    assert errors == []
