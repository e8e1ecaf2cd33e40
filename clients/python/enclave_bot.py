"""A small client for Enclave bots: the Python standard library only, one file to copy.

    from enclave_bot import EnclaveClient, BotServer

    client = EnclaveClient("https://chat.corp.example", token="enc_...")
    client.post(channel_id=12, body="Build 812 **passed**")

    server = BotServer(signing_secret="...")   # the bot's (or the webhook's) signing secret

    @server.on_message
    def echo(event):                            # an outgoing webhook fired
        return {"text": "you said: " + event["text"]}

    server.serve(("0.0.0.0", 8080))

Requests from Enclave are verified before a handler runs: HMAC-SHA256 over
"v1:<timestamp>:<body>" in `X-Enclave-Signature` (`v1=<hex>`), and a timestamp at most five
minutes old (docs/integrations.md, "Signatures").
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TIMESTAMP_HEADER = "X-Enclave-Request-Timestamp"
SIGNATURE_HEADER = "X-Enclave-Signature"
MAX_AGE_SECONDS = 300
MAX_BODY_BYTES = 1024 * 1024


class EnclaveError(Exception):
    """A refused API call: `status` is the HTTP status, `code` Enclave's machine-readable code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), b"v1:%d:" % timestamp + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(
    secret: str, timestamp: str, signature_header: str, body: bytes, now: float | None = None
) -> bool:
    """Whether a request from Enclave is authentic and fresh."""
    if not timestamp.isdigit():
        return False
    if abs((now if now is not None else time.time()) - int(timestamp)) > MAX_AGE_SECONDS:
        return False
    return hmac.compare_digest(signature(secret, int(timestamp), body), signature_header)


class EnclaveClient:
    """The REST API as a bot: `token` is one of the bot's API tokens (Settings -> Bots)."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 10.0) -> None:
        self.base = base_url.rstrip("/") + "/api/v1/"
        self.token = token
        self.timeout = timeout

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - the admin's own server
            self.base + path.lstrip("/"),
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                raw = response.read()
        except urllib.error.HTTPError as error:
            try:
                detail = json.loads(error.read() or b"{}")
            except ValueError:
                detail = {}
            raise EnclaveError(
                error.code, detail.get("code", "error"), detail.get("message", "")
            ) from None
        return json.loads(raw) if raw else None

    def post(
        self, channel_id: int, body: str, *, thread_root_id: int | None = None
    ) -> dict[str, Any]:
        """Post a message (idempotent: a retry of this call never posts twice)."""
        return self.request(
            "POST",
            f"channels/{channel_id}/messages/",
            {"body": body, "client_msg_id": str(uuid.uuid4()), "thread_root_id": thread_root_id},
        )["message"]

    def post_with_buttons(
        self,
        channel_id: int,
        body: str,
        actions: list[dict[str, str]],
        *,
        thread_root_id: int | None = None,
    ) -> dict[str, Any]:
        """Post a message with buttons.

        `actions` looks like [{"id": "approve", "label": "Approve", "style": "primary"}].
        """
        return self.request(
            "POST",
            "bot/messages/",
            {
                "channel_id": channel_id,
                "body": body,
                "actions": actions,
                "client_msg_id": str(uuid.uuid4()),
                "thread_root_id": thread_root_id,
            },
        )["message"]

    def history(self, channel_id: int, limit: int = 50) -> list[dict[str, Any]]:
        return self.request("GET", f"channels/{channel_id}/messages/?limit={limit}")["messages"]


Handler = Callable[[dict[str, Any]], dict[str, Any] | None]


class BotServer:
    """An HTTP endpoint for outgoing webhooks (`message`), custom slash commands (`command`) and
    button clicks (`action`). A handler returns the JSON answer (or None for no answer):

    - message: {"text": "...", "thread": true}  posts a reply as the bot
    - command: {"text": "...", "response_type": "in_channel" | "ephemeral"}
    - action:  {"update": {"text": "...", "actions": [...]}, "text": "only for the clicker"}
    """

    def __init__(self, signing_secret: str | dict[str, str]) -> None:
        # One secret, or one per kind ({"message": ..., "command": ..., "action": ...}): the
        # bot, each outgoing webhook and each custom command have their own.
        self.secrets = signing_secret
        self.handlers: dict[str, Handler] = {}

    def on_message(self, handler: Handler) -> Handler:
        self.handlers["message"] = handler
        return handler

    def on_command(self, handler: Handler) -> Handler:
        self.handlers["command"] = handler
        return handler

    def on_action(self, handler: Handler) -> Handler:
        self.handlers["action"] = handler
        return handler

    def _secret(self, kind: str) -> str:
        if isinstance(self.secrets, str):
            return self.secrets
        return self.secrets.get(kind, "")

    def handle(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """(status, answer) for one request; usable from any web framework."""
        try:
            event = json.loads(body)
            kind = str(event.get("type", ""))
        except (ValueError, AttributeError):
            return 400, {"error": "invalid json"}
        lower = {k.lower(): v for k, v in headers.items()}
        if not verify(
            self._secret(kind),
            lower.get(TIMESTAMP_HEADER.lower(), ""),
            lower.get(SIGNATURE_HEADER.lower(), ""),
            body,
        ):
            return 401, {"error": "bad signature"}
        handler = self.handlers.get(kind)
        answer = handler(event) if handler else None
        return 200, answer or {}

    def serve(self, address: tuple[str, int]) -> None:
        bot = self

        class Request(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY_BYTES:
                    self.send_error(413)
                    return
                status, answer = bot.handle(dict(self.headers.items()), self.rfile.read(length))
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        ThreadingHTTPServer(address, Request).serve_forever()
