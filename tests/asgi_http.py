"""A GET through an ASGI application read to its end, streamed responses included (channels'
HttpCommunicator stops at the first body message, which a stream's first block is)."""

from __future__ import annotations

from typing import Any

from asgiref.testing import ApplicationCommunicator


async def streamed_get(application: Any, path: str) -> tuple[dict[str, Any], bytes]:
    """The response start message and the whole body of `GET path`."""
    communicator = ApplicationCommunicator(
        application,
        {
            "type": "http",
            "method": "GET",
            "path": path,
            "query_string": b"",
            "headers": [(b"host", b"testserver")],
        },
    )
    await communicator.send_input({"type": "http.request", "body": b""})
    start = await communicator.receive_output(timeout=5)
    body = b""
    while True:  # Django ends a stream with a body-less message
        message = await communicator.receive_output(timeout=5)
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    await communicator.wait(timeout=5)
    return start, body
