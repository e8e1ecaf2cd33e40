"""A real HTTP server on loopback for the integration tests (the remote end of webhooks,
slash commands, button clicks, link previews and the egress guard's limits).

Each test registers routes: `server.route("/path", handler)`, where `handler(request)` returns
`(status, headers, body)`; every request received is kept in `server.requests`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Reply = tuple[int, dict[str, str], bytes]
Handler = Callable[[Received], Reply]


@dataclass
class LoopbackServer:
    httpd: ThreadingHTTPServer
    routes: dict[str, Handler] = field(default_factory=dict)
    requests: list[Received] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def route(self, path: str, handler: Handler) -> None:
        self.routes[path] = handler

    def wait_for(self, count: int, timeout: float = 10.0) -> None:
        end = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < end:
            time.sleep(0.02)


def _handler_class(server: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            received = Received(
                self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
            )
            server.requests.append(received)
            handler = server.routes.get(self.path.split("?", 1)[0])
            if handler is None:
                status, headers, content = 404, {}, b"not found"
            else:
                status, headers, content = handler(received)
            self.send_response(status)
            if "Content-Length" not in headers and "Transfer-Encoding" not in headers:
                headers = {**headers, "Content-Length": str(len(content))}
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if callable(getattr(content, "__iter__", None)) and not isinstance(content, bytes):
                for piece in content:
                    self.wfile.write(piece)
                    self.wfile.flush()
            else:
                self.wfile.write(content)

        do_GET = do_POST = do_HEAD = _serve

    return Handler


@pytest.fixture
def loopback_server() -> Iterator[LoopbackServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server = LoopbackServer(httpd)
    httpd.RequestHandlerClass = _handler_class(server)
    httpd.daemon_threads = True
    # The guard hangs up on oversized and slow answers on purpose: no traceback for those.
    httpd.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
