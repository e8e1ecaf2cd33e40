"""Sending while a file is still on its way: the composer keeps the focus after the file picker,
and Enter during the upload (or the scan that the embedded mode runs inside it) says that the
message waits, then sends it when the file is ready.

The test holds the browser's upload request (`page.route`) to keep the file "uploading" for as
long as it needs; the e2e server scans with a real clamd (`e2e_clamd`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.playwright_api import expect
from tests.files.clamd_server import ClamdServer

pytestmark = [pytest.mark.browser, pytest.mark.clamav]

UPLOADS = "**/api/v1/files/"


def test_enter_while_a_file_uploads_says_it_waits_then_sends_it(
    e2e_clamd: ClamdServer, open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    channel = api_for("alice").create_channel(members=("bob",))
    alice = open_app("alice", channel_id=channel["id"])
    page = alice.page
    tag = uuid.uuid4().hex[:8]
    name = f"plan-{tag}.txt"
    held: list[Any] = []
    page.route(UPLOADS, lambda route: held.append(route))

    with page.expect_file_chooser() as chooser:
        page.locator("#composer .composer-attach").click()
    chooser.value.set_files(files=[{"name": name, "mimeType": "text/plain", "buffer": b"q3 " * 50}])
    # Back in the message box: typing goes there and Enter does not reopen the file picker.
    expect(page.locator("#composer-input")).to_be_focused()
    expect(page.locator(".upload-chip--uploading", has_text=name)).to_be_visible()
    page.keyboard.type(f"the plan {tag}")
    page.keyboard.press("Enter")

    waiting = page.locator("main .composer-area [role=status]", has_text="when the upload")
    expect(waiting).to_be_visible()
    expect(page.locator("#composer-input")).to_have_value(f"the plan {tag}")
    expect(alice.message(f"the plan {tag}")).to_have_count(0)

    page.wait_for_timeout(100)
    assert len(held) == 1, "the upload never started"
    held[0].continue_()
    page.unroute(UPLOADS)

    message = alice.message(f"the plan {tag}")
    expect(message.locator(".attachment")).to_have_count(1)
    expect(page.locator(".upload-chip")).to_have_count(0)
    expect(page.locator("#composer-input")).to_have_value("")
    expect(waiting).to_have_count(0)
    sent = api_for("bob").history(channel["id"])
    assert [m["body"] for m in sent] == [f"the plan {tag}"]
    assert [a["name"] for a in sent[0]["attachments"]] == [name]
