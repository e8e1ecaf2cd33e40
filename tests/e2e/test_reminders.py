"""Reminders in the browser: "Remind me" from a message's actions, the list of mine, and the
reminder arriving from the system bot once the delivery runs with a clock moved past it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    EXPECT_TIMEOUT_MS,
    AppPage,
    LiveServer,
    flag_on,
    own_server,
    sign_in,
)
from tests.e2e.playwright_api import expect

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def reminders_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of its own with the `workplace_reminders` flag on from the start (a flag set
    behind a running server's back would wait for its cache)."""
    with own_server(
        tmp_path_factory, "e2e-reminders", shell=flag_on("workplace_reminders")
    ) as server:
        yield server


def _signed_in(browser: Any, server: LiveServer, username: str) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    sign_in(context, server.url, username)
    return context


def _deliver_later(server: LiveServer, minutes: int) -> int:
    out = server.shell(
        "from datetime import timedelta; from django.utils import timezone; "
        "from apps.workspace.reminders import reminders_deliver_due; "
        f"print(reminders_deliver_due(now=timezone.now() + timedelta(minutes={minutes})))"
    )
    return int(out.strip().splitlines()[-1])


def test_remind_me_from_the_message_menu_then_the_reminder_arrives(
    browser: Any, reminders_server: LiveServer, artifacts: Path
) -> None:
    context = _signed_in(browser, reminders_server, "alice")
    try:
        app = AppPage(context.new_page(), "alice", reminders_server.url).open()
        page = app.page
        text = f"Budget figures {uuid.uuid4().hex[:6]}"
        app.send(text)
        message = app.message(text)
        expect(message).to_be_visible()

        message.hover()
        message.locator('[data-act="remind"]').click()
        menu = page.get_by_role("menu", name="Remind me")
        expect(menu).to_be_visible()
        page.screenshot(path=str(artifacts / "reminders-menu.png"))
        menu.get_by_role("menuitem", name="In 20 minutes").click()
        expect(page.locator("#notices")).to_contain_text("Reminder set for")

        # My pending reminders: from the account menu.
        page.locator(".user-menu-summary").click()
        page.locator('[data-action="open-reminders"]').click()
        dialog = page.locator("#reminders-dialog")
        expect(dialog.locator(".reminder-row")).to_have_count(1)
        expect(dialog.locator(".reminder-row")).to_contain_text(text)
        page.screenshot(path=str(artifacts / "reminders-list.png"))
        page.keyboard.press("Escape")

        # Twenty-five minutes later (the delivery with a moved clock): it is sent, once.
        assert _deliver_later(reminders_server, 25) == 1
        assert _deliver_later(reminders_server, 26) == 0

        app.open()
        bot_dm = page.locator("#dm-list .conversation-link", has_text="Enclave")
        expect(bot_dm).to_be_visible()
        bot_dm.click()
        reminder = page.locator("#message-list article[data-message-id]", has_text="Reminder").last
        expect(reminder).to_be_visible()
        expect(reminder.get_by_role("link", name="this message")).to_be_visible()
        page.screenshot(path=str(artifacts / "reminders-arrived.png"))

        page.locator(".user-menu-summary").click()
        page.locator('[data-action="open-reminders"]').click()
        expect(page.locator("#reminders-dialog .reminder-empty")).to_be_visible()
        expect(page.locator("#reminders-dialog .reminder-row")).to_have_count(0)
        assert app.errors == []
    finally:
        context.close()
