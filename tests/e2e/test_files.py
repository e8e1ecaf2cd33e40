"""Files in the browser: drop an image on the conversation, send it, others see it once clean.

The e2e server scans with a real clamd (`e2e_clamd`, our test signatures only) and runs Celery
eagerly, so the scan and the thumbnail happen right after the upload commits.
"""

from __future__ import annotations

import base64
import io
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

from tests.e2e.playwright_api import expect
from tests.files.clamd_server import ClamdServer
from tests.files.support import EICAR

pytestmark = [pytest.mark.browser, pytest.mark.clamav]

DROP_FILE = """([base64, name, type]) => {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type }));
  const zone = document.getElementById("message-scroller");
  for (const type of ["dragenter", "dragover", "drop"]) {
    const init = { bubbles: true, cancelable: true, dataTransfer: transfer };
    zone.dispatchEvent(new DragEvent(type, init));
  }
}"""


def small_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (54, 80, 201)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_dropped_image_shows_as_thumbnail_to_others_once_clean(
    e2e_clamd: ClamdServer, open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    channel = api_for("alice").create_channel(members=("bob",))
    alice = open_app("alice", channel_id=channel["id"])
    bob = open_app("bob", channel_id=channel["id"])
    name = f"photo-{uuid.uuid4().hex[:8]}.png"

    alice.page.evaluate(DROP_FILE, [base64.b64encode(small_png()).decode(), name, "image/png"])
    chip = alice.page.locator(".upload-chip", has_text=name)
    expect(chip).to_have_class("upload-chip upload-chip--done")
    alice.page.press("#composer-input", "Enter")  # no text: the file alone is the message
    expect(chip).to_have_count(0)

    thumbnail = bob.page.locator("#message-list .attachment--image img")
    expect(thumbnail).to_have_attribute("alt", name)
    expect(thumbnail).to_have_attribute("src", re.compile(r"/api/v1/files/[0-9a-f-]+/thumbnail$"))
    # The thumbnail really loads for Bob: the file is clean and he is a member.
    thumbnail.evaluate(
        "(img) => img.complete ? null : new Promise((done) => img.addEventListener('load', done))"
    )
    assert thumbnail.evaluate("(img) => img.naturalWidth") > 0
    link = bob.page.locator("#message-list a.attachment--image")
    expect(link).to_have_attribute("target", "_blank")
    assert link.get_attribute("href").endswith("/preview")
    own_thumbnail = alice.page.locator("#message-list .attachment--image img")
    expect(own_thumbnail).to_have_attribute("alt", name)


def test_attached_file_shows_as_download_card_and_upload_errors_show_the_reason(
    e2e_clamd: ClamdServer, open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    channel = api_for("alice").create_channel(members=("bob",))
    alice = open_app("alice", channel_id=channel["id"])
    bob = open_app("bob", channel_id=channel["id"])
    tag = uuid.uuid4().hex[:8]
    file_input = alice.page.locator("#composer input[type=file]")

    file_input.set_input_files({"name": "empty.txt", "mimeType": "text/plain", "buffer": b""})
    failed = alice.page.locator(".upload-chip--error", has_text="empty.txt")
    expect(failed.locator("[role=alert]")).not_to_be_empty()
    failed.get_by_role("button").click()
    expect(failed).to_have_count(0)

    name = f"notes-{tag}.txt"
    file_input.set_input_files({"name": name, "mimeType": "text/plain", "buffer": b"hello " * 300})
    expect(alice.page.locator(".upload-chip--done", has_text=name)).to_be_visible()
    alice.send(f"minutes {tag}")

    card = bob.message(f"minutes {tag}").locator("a.attachment--file")
    expect(card).to_contain_text(name)
    expect(card).to_contain_text("1.8 KB")
    assert card.get_attribute("href").endswith("/download")


PASTE_FILE = """([text, name]) => {
  const transfer = new DataTransfer();
  transfer.items.add(new File([text], name, { type: "text/plain" }));
  const init = { bubbles: true, cancelable: true, clipboardData: transfer };
  document.getElementById("composer-input").dispatchEvent(new ClipboardEvent("paste", init));
}"""


def test_pasted_infected_file_is_blocked_before_it_is_sent(
    e2e_clamd: ClamdServer, open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    channel = api_for("alice").create_channel()
    alice = open_app("alice", channel_id=channel["id"])
    name = f"eicar-{uuid.uuid4().hex[:8]}.txt"

    alice.page.evaluate(PASTE_FILE, [EICAR.decode(), name])

    chip = alice.page.locator(".upload-chip--error", has_text=name)
    expect(chip.locator("[role=alert]")).to_contain_text("virus scanner")
    expect(alice.page.locator("#notices")).to_contain_text(name)
