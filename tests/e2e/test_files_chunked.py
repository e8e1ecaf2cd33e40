"""Large files in the browser go up in resumable chunks and survive a dropped connection.

The threshold and chunk size are lowered for this module (the server restarts with them, and
again with the defaults afterwards), so a file of a few hundred KB takes the chunked path and
stays under the e2e clamd's stream limit.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.e2e.conftest import LiveServer
from tests.e2e.playwright_api import expect
from tests.files.clamd_server import ClamdServer

pytestmark = [pytest.mark.browser, pytest.mark.clamav]

CHUNK_BYTES = 64 * 1024
THRESHOLD_BYTES = 128 * 1024
SMALL_SETTINGS = {
    "ENCLAVE_UPLOAD_CHUNK_BYTES": str(CHUNK_BYTES),
    "ENCLAVE_UPLOAD_CHUNKED_THRESHOLD_BYTES": str(THRESHOLD_BYTES),
}
CHUNK_URL = re.compile(r"/api/v1/uploads/[0-9a-f-]+/chunks/(\d+)$")


@pytest.fixture(scope="module")
def small_chunks(e2e_server: LiveServer) -> Iterator[LiveServer]:
    saved = {key: e2e_server.env.get(key) for key in SMALL_SETTINGS}
    e2e_server.env.update(SMALL_SETTINGS)
    e2e_server.restart()
    yield e2e_server
    for key, value in saved.items():
        if value is None:
            e2e_server.env.pop(key, None)
        else:
            e2e_server.env[key] = value
    e2e_server.restart()


def _text_file(size: int) -> bytes:
    lines = b"".join(b"line %06d of a long report\n" % n for n in range(size // 20 + 1))
    return lines[:size]


def test_large_file_is_uploaded_in_chunks_and_resumes_after_a_network_error(
    small_chunks: LiveServer,
    e2e_clamd: ClamdServer,
    open_app: Callable[..., Any],
    api_for: Callable[[str], Any],
) -> None:
    channel = api_for("alice").create_channel(members=("bob",))
    alice = open_app("alice", channel_id=channel["id"])
    bob = open_app("bob", channel_id=channel["id"])
    tag = uuid.uuid4().hex[:8]
    name, data = f"report-{tag}.txt", _text_file(5 * CHUNK_BYTES - 1000)  # 5 chunks
    uploads: list[str] = []
    alice.page.on(
        "request",
        lambda request: (
            uploads.append(f"{request.method} {request.url.split('/api/v1/')[1]}")
            if "/api/v1/files/" in request.url or "/api/v1/uploads/" in request.url
            else None
        ),
    )
    failures = {"left": 2}  # chunk 2 is lost twice on the way (connection dropped)

    def flaky_network(route: Any) -> None:
        match = CHUNK_URL.search(route.request.url)
        if match and match.group(1) == "2" and failures["left"] > 0:
            failures["left"] -= 1
            route.abort("connectionreset")
        else:
            route.continue_()

    alice.page.route("**/api/v1/uploads/**", flaky_network)

    alice.page.locator("#composer input[type=file]").set_input_files(
        {"name": name, "mimeType": "text/plain", "buffer": data}
    )
    chip = alice.page.locator(".upload-chip", has_text=name)
    expect(chip.locator(".upload-retrying")).to_be_visible()  # it says so while it waits
    expect(chip).to_have_class("upload-chip upload-chip--done", timeout=20_000)
    alice.send(f"report {tag}")

    card = bob.message(f"report {tag}").locator("a.attachment--file")
    expect(card).to_contain_text(name)
    chunk_puts = [line for line in uploads if line.startswith("PUT ")]
    assert [line.rsplit("/", 1)[1] for line in chunk_puts] == ["0", "1", "2", "2", "2", "3", "4"]
    assert sum(line.startswith("POST uploads/") and "complete" not in line for line in uploads) == 1
    assert sum(line.endswith("/complete") for line in uploads) == 1
    assert not any(line == "POST files/" for line in uploads)  # not the one-shot multipart path
    bob_api = api_for("bob")
    download = bob_api.request.get(
        small_chunks.url + card.get_attribute("href"), headers=bob_api.headers
    )
    assert download.ok
    assert download.body() == data


def test_small_file_still_goes_up_in_one_request(
    small_chunks: LiveServer,
    e2e_clamd: ClamdServer,
    open_app: Callable[..., Any],
    api_for: Callable[[str], Any],
) -> None:
    channel = api_for("alice").create_channel()
    alice = open_app("alice", channel_id=channel["id"])
    name = f"note-{uuid.uuid4().hex[:8]}.txt"
    posted: list[str] = []
    alice.page.on(
        "request",
        lambda request: posted.append(request.url) if request.method == "POST" else None,
    )

    alice.page.locator("#composer input[type=file]").set_input_files(
        {"name": name, "mimeType": "text/plain", "buffer": _text_file(THRESHOLD_BYTES)}
    )

    expect(alice.page.locator(".upload-chip--done", has_text=name)).to_be_visible()
    assert [url for url in posted if "/api/v1/" in url] == [f"{small_chunks.url}/api/v1/files/"]
