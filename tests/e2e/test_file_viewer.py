"""The image and PDF viewer: a click on a picture or a PDF opens it over the app with its name,
size and a download button; ← → (or the buttons) page through the conversation's images and
PDFs; Esc closes it and gives focus back to the link. PDFs are shown by the browser's own PDF
viewer in a frame of the permission-checked preview URL."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.playwright_api import expect
from tests.e2e.test_attachment_layout import pdf_bytes, png_bytes, upload
from tests.files.clamd_server import ClamdServer

pytestmark = [pytest.mark.browser, pytest.mark.clamav]


def _conversation_with_files(api: Any, tag: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    channel = api.create_channel(members=("bob", "zhangwei"))
    files = [
        upload(api, f"first-{tag}.png", "image/png", png_bytes(640, 480)),
        upload(api, f"second-{tag}.png", "image/png", png_bytes(300, 500)),
        upload(api, f"report-{tag}.pdf", "application/pdf", pdf_bytes()),
    ]
    for index, attachment in enumerate(files):
        api.send(channel["id"], f"file {index} {tag}", attachment_ids=[attachment["id"]])
    return channel, files


def test_clicking_an_image_opens_the_viewer_which_pages_through_the_conversation(
    e2e_clamd: ClamdServer, open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    tag = uuid.uuid4().hex[:8]
    channel, files = _conversation_with_files(api_for("alice"), tag)
    bob = open_app("bob", channel_id=channel["id"])
    page = bob.page
    viewer = page.locator("#viewer-dialog")
    link = bob.message(f"file 0 {tag}").locator("a.attachment--image")

    link.click()

    expect(viewer).to_be_visible()
    expect(page).to_have_url(re.compile(f"/c/{channel['id']}/$"))  # no new tab, no navigation
    expect(page.locator("#viewer-name")).to_have_text(f"first-{tag}.png")
    expect(page.locator("#viewer-size")).to_have_text(re.compile(r"\d.*(KB|bytes)"))
    expect(page.locator("#viewer-position")).to_have_text("1 of 3")
    image = page.locator("#viewer-stage img")
    expect(image).to_have_attribute("src", f"/api/v1/files/{files[0]['id']}/preview")
    page.wait_for_function(
        "() => document.querySelector('#viewer-stage img')?.naturalWidth === 640"
    )
    download = page.locator("#viewer-download")
    expect(download).to_have_attribute("download", f"first-{tag}.png")
    expect(download).to_have_attribute("aria-label", f"Download first-{tag}.png")
    expect(page.locator("#viewer-prev")).to_be_disabled()
    expect(page.locator("#viewer-close")).to_be_focused()

    page.keyboard.press("ArrowRight")
    expect(page.locator("#viewer-name")).to_have_text(f"second-{tag}.png")
    expect(page.locator("#viewer-position")).to_have_text("2 of 3")
    expect(page.locator("#viewer-status")).to_have_text(f"second-{tag}.png, 2 of 3")

    # The PDF: the browser's viewer in a frame of the preview URL, which the server lets load.
    with page.expect_response(f"**/files/{files[2]['id']}/preview") as pdf_response:
        page.locator("#viewer-next").click()
    assert pdf_response.value.status == 200
    assert pdf_response.value.headers["content-type"] == "application/pdf"
    frame = page.locator("#viewer-stage iframe")
    expect(frame).to_have_attribute("src", f"/api/v1/files/{files[2]['id']}/preview")
    expect(frame).to_have_attribute("title", f"report-{tag}.pdf")
    expect(page.locator("#viewer-next")).to_be_disabled()
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#viewer-name")).to_have_text(f"second-{tag}.png")

    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()
    expect(link).to_be_focused()


def test_the_viewer_opens_from_the_keyboard_and_speaks_chinese(
    e2e_clamd: ClamdServer, open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    tag = uuid.uuid4().hex[:8]
    channel, _files = _conversation_with_files(api_for("alice"), tag)
    zhang = open_app("zhangwei", channel_id=channel["id"], locale="zh-CN")
    page = zhang.page
    link = zhang.message(f"file 2 {tag}").locator("a[data-viewer-id]")

    link.focus()
    page.keyboard.press("Enter")

    expect(page.locator("#viewer-dialog")).to_be_visible()
    expect(page.locator("#viewer-name")).to_have_text(f"report-{tag}.pdf")
    expect(page.locator("#viewer-stage iframe")).to_have_count(1)
    expect(page.locator("#viewer-close")).to_have_attribute("aria-label", "关闭查看器")
    expect(page.locator("#viewer-position")).to_have_text("第 3 个，共 3 个")
    expect(page.locator("#viewer-download")).to_have_attribute(
        "aria-label", f"下载 report-{tag}.pdf"
    )
    page.keyboard.press("Escape")
    expect(page.locator("#viewer-dialog")).to_be_hidden()
    expect(link).to_be_focused()


def test_the_viewer_fits_a_phone_screen(
    e2e_clamd: ClamdServer, open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    tag = uuid.uuid4().hex[:8]
    channel, _files = _conversation_with_files(api_for("alice"), tag)
    bob = open_app("bob", channel_id=channel["id"], viewport={"width": 390, "height": 800})
    bob.message(f"file 0 {tag}").locator("a.attachment--image").click()

    image = bob.page.locator("#viewer-stage img")
    expect(image).to_be_visible()
    box = image.bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= 390, box
    expect(bob.page.locator("#viewer-next")).to_be_in_viewport()


def test_channel_details_list_the_files_by_kind_and_open_them_in_the_viewer(
    e2e_clamd: ClamdServer, open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    tag = uuid.uuid4().hex[:8]
    alice_api = api_for("alice")
    channel, _files = _conversation_with_files(alice_api, tag)
    notes = upload(alice_api, f"notes-{tag}.txt", "text/plain", b"minutes of the meeting\n")
    alice_api.send(channel["id"], f"notes {tag}", attachment_ids=[notes["id"]])
    bob = open_app("bob", channel_id=channel["id"])
    page = bob.page
    page.locator("#details-toggle").click()
    rows = page.locator("#details-file-list .pick-title")

    expect(rows).to_have_text(
        [f"notes-{tag}.txt", f"report-{tag}.pdf", f"second-{tag}.png", f"first-{tag}.png"]
    )
    page.select_option("#details-files-type", "pdf")
    expect(rows).to_have_text([f"report-{tag}.pdf"])
    page.select_option("#details-files-type", "other")
    expect(rows).to_have_text([f"notes-{tag}.txt"])
    expect(page.locator("#details-file-list a")).to_have_attribute("download", f"notes-{tag}.txt")
    page.select_option("#details-files-type", "image")
    expect(rows).to_have_text([f"second-{tag}.png", f"first-{tag}.png"])

    page.locator("#details-file-list a", has_text=f"second-{tag}.png").click()
    expect(page.locator("#viewer-dialog")).to_be_visible()
    expect(page.locator("#viewer-name")).to_have_text(f"second-{tag}.png")
    expect(page.locator("#viewer-position")).to_have_text("2 of 3")
    page.keyboard.press("Escape")
    expect(page.locator("#viewer-dialog")).to_be_hidden()
    expect(page.locator("#details-dialog")).to_be_visible()

    # A file shared while the list is open appears in it.
    page.select_option("#details-files-type", "")
    more = upload(alice_api, f"late-{tag}.png", "image/png", png_bytes(100, 100))
    alice_api.send(channel["id"], f"late {tag}", attachment_ids=[more["id"]])
    expect(rows.first).to_have_text(f"late-{tag}.png")
