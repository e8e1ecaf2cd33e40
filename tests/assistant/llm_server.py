"""An OpenAI-compatible chat-completions server of the tests' own, on loopback.

It speaks the real wire format (`POST /v1/chat/completions`, JSON or server-sent events with
`"stream": true`), records every request it gets, and misbehaves on demand: an HTTP error
status, a body that is not a completion, a pause longer than the client's time-out, a stream
that stalls half-way. The answer it writes is set per test (`answer`), in pieces for streams.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Behaviour:
    answer: str = "The launch is on Friday [1]."
    status: int = 200
    garbage: bool = False  # 200 with a body that is no completion
    delay_seconds: float = 0.0  # before the headers
    stall_after_pieces: int | None = None  # a stream that stops sending (but stays open)
    piece_delay_seconds: float = 0.0
    report_usage: bool = True
    prompt_tokens: int = 120
    completion_tokens: int = 30
    required_key: str | None = None


@dataclass
class LLMServer:
    url: str  # base URL, like an admin would enter it: http://127.0.0.1:PORT/v1
    behaviour: Behaviour
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    def prompt_text(self) -> str:
        """Everything sent to the model so far, as one string."""
        return "\n".join(
            message["content"] for body in self.requests for message in body["messages"]
        )


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [word + (" " if index < len(words) - 1 else "") for index, word in enumerate(words)]


def _handler(server_state: LLMServer, stop: threading.Event) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            behaviour = server_state.behaviour
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            server_state.requests.append(body)
            server_state.headers.append(dict(self.headers.items()))
            if self.path != "/v1/chat/completions":
                self._json(404, {"error": {"message": "no such path"}})
                return
            if behaviour.delay_seconds:
                stop.wait(behaviour.delay_seconds)
            key = behaviour.required_key
            if key is not None and self.headers.get("Authorization") != f"Bearer {key}":
                self._json(401, {"error": {"message": "bad key"}})
                return
            if behaviour.status != 200:
                self._json(behaviour.status, {"error": {"message": "failure on purpose"}})
                return
            if behaviour.garbage:
                self._raw(200, b"<html>not a completion</html>", "text/html")
                return
            if body.get("stream"):
                self._stream(behaviour, body)
            else:
                self._json(200, self._completion(behaviour, body))

        def _completion(self, behaviour: Behaviour, body: dict[str, Any]) -> dict[str, Any]:
            data: dict[str, Any] = {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "model": body.get("model"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": behaviour.answer},
                        "finish_reason": "stop",
                    }
                ],
            }
            if behaviour.report_usage:
                data["usage"] = {
                    "prompt_tokens": behaviour.prompt_tokens,
                    "completion_tokens": behaviour.completion_tokens,
                    "total_tokens": behaviour.prompt_tokens + behaviour.completion_tokens,
                }
            return data

        def _stream(self, behaviour: Behaviour, body: dict[str, Any]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for index, event in enumerate(self._events(behaviour, body)):
                if (
                    behaviour.stall_after_pieces is not None
                    and index >= behaviour.stall_after_pieces
                ):
                    stop.wait(30)
                    return
                self._chunk(event.encode())
                if behaviour.piece_delay_seconds:
                    time.sleep(behaviour.piece_delay_seconds)
            self._chunk(b"")

        def _events(self, behaviour: Behaviour, body: dict[str, Any]) -> Iterator[str]:
            yield ": keep-alive\n\n"
            for piece in _pieces(behaviour.answer):
                chunk = {
                    "id": "chatcmpl-test",
                    "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
                }
                yield f"data: {json.dumps(chunk)}\n\n"
            final: dict[str, Any] = {
                "id": "chatcmpl-test",
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            }
            yield f"data: {json.dumps(final)}\n\n"
            if behaviour.report_usage and (body.get("stream_options") or {}).get("include_usage"):
                usage = {
                    "choices": [],
                    "usage": {
                        "prompt_tokens": behaviour.prompt_tokens,
                        "completion_tokens": behaviour.completion_tokens,
                    },
                }
                yield f"data: {json.dumps(usage)}\n\n"
            yield "data: [DONE]\n\n"

        def _chunk(self, data: bytes) -> None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

        def _json(self, status: int, data: dict[str, Any]) -> None:
            self._raw(status, json.dumps(data).encode(), "application/json")

        def _raw(self, status: int, payload: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(payload)

    return Handler


class RunningServer:
    """Start with `start()`, stop with `stop()`; `state` is what tests read and change."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self.state = LLMServer(url="", behaviour=Behaviour())
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.state, self._stop))
        self._httpd.daemon_threads = True
        host, port = self._httpd.server_address[:2]
        self.state.url = f"http://{host}:{port}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def start(self) -> LLMServer:
        self._thread.start()
        return self.state

    def stop(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
