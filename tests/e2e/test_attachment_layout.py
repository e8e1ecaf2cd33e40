"""Images and PDFs in the message list: their boxes are reserved before the pictures arrive, so
a channel opens (and stays) at its newest message, and each one says what it is.

The e2e server scans with a real clamd (`e2e_clamd`) and runs Celery eagerly, so an upload is
clean and has its thumbnail when its request returns. The tests hold the browser's thumbnail
requests (`page.route`) to decide when the pictures arrive: that is the moment the list used to
grow under the reader.
"""

from __future__ import annotations

import contextlib
import io
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.e2e.playwright_api import PlaywrightError, expect
from tests.files.clamd_server import ClamdServer

pytestmark = [pytest.mark.browser, pytest.mark.clamav]

THUMBNAILS = "**/api/v1/files/*/thumbnail"
AT_END = "(el) => el.scrollHeight - el.scrollTop - el.clientHeight"


def png_bytes(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (54, 80, 201)).save(buffer, format="PNG")
    return buffer.getvalue()


def pdf_bytes(size: tuple[int, int] = (300, 420)) -> bytes:
    """A real one-page PDF (Pillow writes it), the page `size` points."""
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format="PDF", resolution=72)
    return out.getvalue()


def upload(api: Any, name: str, mime_type: str, data: bytes) -> dict[str, Any]:
    response = api.request.post(
        f"{api.base}files/",
        headers=api.headers,
        multipart={"file": {"name": name, "mimeType": mime_type, "buffer": data}},
    )
    assert response.ok, response.text()
    # Celery runs eagerly after the upload commits: by now the file is scanned and previewed.
    attachment = api.get(f"files/{response.json()['id']}/")
    assert attachment["status"] == "clean", attachment
    return attachment


class HeldThumbnails:
    """Thumbnail requests of one tab wait here until `release()`."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.routes: list[Any] = []
        self.released = False
        page.route(THUMBNAILS, self.hold)

    def hold(self, route: Any) -> None:
        if self.released:
            route.continue_()
        else:
            self.routes.append(route)

    def release(self) -> None:
        self.released = True
        for route in self.routes:
            # Those of a page that was left meanwhile are gone.
            with contextlib.suppress(PlaywrightError):
                route.continue_()
        self.page.unroute(THUMBNAILS)

    def wait_loaded(self, scope: Any) -> None:
        """Until every thumbnail in `scope` has its picture (a lazy one far above may not)."""
        scope.locator("img").evaluate_all(
            """(images) => Promise.all(images.map((img) => img.complete && img.naturalWidth
                 ? null
                 : new Promise((done) => img.addEventListener('load', done, { once: true }))))"""
        )


def distance_from_end(app: Any) -> float:
    return float(app.page.locator("#message-scroller").evaluate(AT_END))


def test_channel_with_images_and_pdfs_opens_and_stays_at_its_newest_message(
    e2e_clamd: ClamdServer, open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    alice_api, bob_api = api_for("alice"), api_for("bob")
    channel = alice_api.create_channel(members=("bob",))
    tag = uuid.uuid4().hex[:8]
    for index in range(10):
        alice_api.send(channel["id"], f"warm-up {index} {tag}")
    for index in range(2):
        image = upload(alice_api, f"photo-{index}-{tag}.png", "image/png", png_bytes(640, 480))
        alice_api.send(channel["id"], f"photo {index} {tag}", attachment_ids=[image["id"]])
        pdf = upload(alice_api, f"report-{index}-{tag}.pdf", "application/pdf", pdf_bytes())
        alice_api.send(channel["id"], f"report {index} {tag}", attachment_ids=[pdf["id"]])
    alice_api.send(channel["id"], f"newest {tag}")

    alice = open_app("alice")
    held = HeldThumbnails(alice.page)
    alice.open(channel["id"])
    expect(alice.message(f"newest {tag}")).to_be_in_viewport()
    previews = [alice.message(f"{kind} 1 {tag}").locator("img") for kind in ("photo", "report")]
    reserved = [preview.bounding_box() for preview in previews]
    assert all(box and box["height"] > 100 for box in reserved), reserved
    held.release()
    held.wait_loaded(alice.message(f"report 1 {tag}"))
    held.wait_loaded(alice.message(f"photo 1 {tag}"))
    alice.page.wait_for_timeout(200)  # a frame or two for any late layout change
    assert distance_from_end(alice) <= 2
    # The boxes were the pictures' size all along: nothing moved when they arrived.
    loaded = [preview.bounding_box() for preview in previews]
    assert [round(box["height"]) for box in loaded] == [round(box["height"]) for box in reserved]
    expect(alice.message(f"newest {tag}")).to_be_in_viewport()

    # A file that arrives while the channel is open keeps the list at its end too.
    held = HeldThumbnails(alice.page)
    pdf = upload(bob_api, f"minutes-{tag}.pdf", "application/pdf", pdf_bytes())
    bob_api.send(channel["id"], f"minutes {tag}", attachment_ids=[pdf["id"]])
    expect(alice.message(f"minutes {tag}").locator("img")).to_have_count(1)
    held.release()
    held.wait_loaded(alice.message(f"minutes {tag}"))
    alice.page.wait_for_timeout(200)
    assert distance_from_end(alice) <= 2
    expect(alice.message(f"minutes {tag}")).to_be_in_viewport()


def test_images_and_pdfs_show_their_name_size_and_a_download_button(
    e2e_clamd: ClamdServer,
    open_app: Callable[..., Any],
    api_for: Callable[[str], Any],
    artifacts: Path,
) -> None:
    alice_api = api_for("alice")
    channel = alice_api.create_channel(members=("bob",))
    tag = uuid.uuid4().hex[:8]
    image = upload(alice_api, f"chart-{tag}.png", "image/png", png_bytes(320, 200))
    pdf = upload(alice_api, f"contract-{tag}.pdf", "application/pdf", pdf_bytes())
    alice_api.send(channel["id"], f"both {tag}", attachment_ids=[image["id"], pdf["id"]])
    bob = open_app("bob", channel_id=channel["id"])
    message = bob.message(f"both {tag}")

    for attachment in (image, pdf):
        name = attachment["name"]
        card = message.locator(f"[data-attachment-id='{attachment['id']}']")
        expect(card.locator("img")).to_have_attribute("alt", name)
        expect(card).to_contain_text(name)
        expect(card).to_contain_text(formatted_size(attachment["size"]))
        download = card.get_by_role("link", name=f"Download {name}")
        expect(download).to_be_visible()
        expect(download).to_have_attribute("download", name)
        assert download.get_attribute("href").endswith(f"/files/{attachment['id']}/download")
        # The picture still opens the preview in a new tab.
        preview = card.locator("a[target=_blank]", has=bob.page.locator("img"))
        assert preview.get_attribute("href").endswith(f"/files/{attachment['id']}/preview")
    message.scroll_into_view_if_needed()
    message.screenshot(path=artifacts / "attachments-image-and-pdf.png")


def formatted_size(size: int) -> str:
    """As the client writes it (attachments.js formatSize, English): "1.2 KB"."""
    if size < 1024:
        return f"{size} bytes"
    return f"{size / 1024:.1f}".removesuffix(".0") + " KB"
