"""The "being checked" state in the browser: until clamd has answered, nobody gets the file.

The e2e server runs Celery eagerly, so the scan runs inside the upload's own request after its
commit; the test holds clamd's answer (`ClamdServer.answers_held`, a proxy on the scanner's
socket), which keeps that request, and the file, `pending`. A second `complete` of the same
resumable upload answers at once with the file, so the uploader can send it while the scan
still waits, exactly as with a Celery worker in production.
"""

from __future__ import annotations

import threading
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.playwright_api import expect
from tests.files.clamd_server import ClamdServer

pytestmark = [pytest.mark.browser, pytest.mark.clamav]

SCAN_WAIT_S = 10.0


def _complete_in_background(api: Any, session_id: str) -> tuple[threading.Thread, list[int]]:
    """POST complete from a thread (Playwright's API is single-threaded): it waits for the scan."""
    statuses: list[int] = []
    request = urllib.request.Request(  # noqa: S310 - the test server's own URL
        f"{api.base}uploads/{session_id}/complete", method="POST", headers=api.headers, data=b""
    )

    def run() -> None:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            statuses.append(response.status)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, statuses


def test_file_being_checked_is_a_placeholder_for_everyone_until_it_is_clean(
    e2e_clamd: ClamdServer, open_app: Callable[..., Any], api_for: Callable[[str], Any]
) -> None:
    alice_api, bob_api = api_for("alice"), api_for("bob")
    channel = alice_api.create_channel(members=("bob",))
    alice = open_app("alice", channel_id=channel["id"])
    bob = open_app("bob", channel_id=channel["id"])
    tag = uuid.uuid4().hex[:8]
    name, data = f"agenda-{tag}.txt", b"1. budget\n2. hiring\n" * 40

    with e2e_clamd.answers_held() as held:
        session = alice_api.post("uploads/", {"name": name, "size": len(data)})
        put = alice_api.request.put(
            f"{alice_api.base}uploads/{session['id']}/chunks/0",
            headers={**alice_api.headers, "Content-Type": "application/octet-stream"},
            data=data,
        )
        assert put.ok, put.text()
        completing, statuses = _complete_in_background(alice_api, session["id"])
        assert held.holding.wait(SCAN_WAIT_S), "the scan never reached clamd"
        attachment = alice_api.post(f"uploads/{session['id']}/complete", {})
        assert attachment["status"] == "pending"
        alice_api.send(channel["id"], f"agenda {tag}", attachment_ids=[attachment["id"]])

        for app in (alice, bob):
            message = app.message(f"agenda {tag}")
            expect(message.locator(".attachment--pending")).to_contain_text("being checked")
            expect(message.locator("a[href*='/api/v1/files/']")).to_have_count(0)
        refused = bob_api.request.get(
            f"{bob_api.base}files/{attachment['id']}/download", headers=bob_api.headers
        )
        assert refused.status == 403
        assert refused.json()["code"] == "file_not_available"

        held.release()
        completing.join(SCAN_WAIT_S)
        assert statuses == [201]

    for app in (alice, bob):
        card = app.message(f"agenda {tag}").locator("a.attachment--file")
        expect(card).to_contain_text(name)
        expect(app.message(f"agenda {tag}").locator(".attachment--pending")).to_have_count(0)
    download = bob_api.request.get(
        f"{bob_api.base}files/{attachment['id']}/download", headers=bob_api.headers
    )
    assert download.ok
    assert download.body() == data
