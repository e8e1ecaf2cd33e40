"""Settings → "Download my data": the ZIP is prepared, then offered for download."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin

from tests.e2e.playwright_api import expect


def test_user_downloads_their_data_from_settings(
    open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    channel = api_for("carol").create_channel(members=("alice",))
    api_for("carol").send(channel["id"], "mine to take along")
    page = open_app("carol", channel_id=channel["id"]).page

    page.click(".user-menu-summary")
    page.click("[data-action=open-settings]")
    page.click("#settings-data-export-request")

    link = page.locator("#settings-data-export-state a.data-export-link")
    expect(link).to_be_visible()
    answer = page.request.get(urljoin(page.url, link.get_attribute("href")))
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(answer.body()))
    assert "mine to take along" in archive.read("messages.json").decode()
    expect(page.locator("#settings-data-export-request")).to_be_enabled()
