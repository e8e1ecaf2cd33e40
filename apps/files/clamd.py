"""A minimal clamd client: INSTREAM and VERSION over a unix or TCP socket.

The protocol (clamd(8)): send `zINSTREAM\\0`, then chunks each prefixed with its length as a
4-byte big-endian integer, then a zero length; clamd answers one NUL-terminated line:
`stream: OK`, `stream: <signature> FOUND`, or `... ERROR`. Every failure to get one of the
first two answers is a `ScanFailed`, so a caller can only ever conclude "clean" from an `OK`.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlparse

CHUNK_BYTES = 64 * 1024
MAX_REPLY_BYTES = 4096


class ScanFailed(Exception):
    """clamd could not give a verdict (down, timed out, stream too large, garbled reply)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    infected: bool
    signature: str  # empty when clean


def _connect(address: str, timeout: float) -> socket.socket:
    parsed = urlparse(address)
    try:
        if parsed.scheme == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(parsed.path)
            return sock
        if parsed.scheme == "tcp":
            return socket.create_connection(
                (parsed.hostname or "127.0.0.1", parsed.port or 3310), timeout=timeout
            )
    except OSError as error:
        raise ScanFailed(f"clamd unreachable at {address}: {error}") from error
    raise ScanFailed(f"clamd address must be unix:///path or tcp://host:port, not {address!r}")


def _read_reply(sock: socket.socket) -> str:
    reply = b""
    while not reply.endswith(b"\x00"):
        part = sock.recv(MAX_REPLY_BYTES)
        if not part:
            break
        reply += part
        if len(reply) > MAX_REPLY_BYTES:
            raise ScanFailed("clamd reply too long")
    return reply.rstrip(b"\x00").decode("utf-8", "replace").strip()


def scan_stream(chunks: Iterable[bytes], *, address: str, timeout: float) -> Verdict:
    """Stream the bytes to clamd and return its verdict; raise ScanFailed without one."""
    try:
        with _connect(address, timeout) as sock:
            try:
                sock.sendall(b"zINSTREAM\x00")
                for chunk in chunks:
                    for start in range(0, len(chunk), CHUNK_BYTES):
                        part = chunk[start : start + CHUNK_BYTES]
                        sock.sendall(struct.pack("!L", len(part)) + part)
                sock.sendall(struct.pack("!L", 0))
            except (BrokenPipeError, ConnectionResetError):
                # clamd hung up early, typically "INSTREAM size limit exceeded": read why.
                pass
            reply = _read_reply(sock)
    except TimeoutError as error:
        raise ScanFailed("clamd timed out") from error
    except OSError as error:
        raise ScanFailed(f"clamd connection failed: {error}") from error
    if reply == "stream: OK":
        return Verdict(infected=False, signature="")
    if reply.startswith("stream: ") and reply.endswith(" FOUND"):
        return Verdict(infected=True, signature=reply[len("stream: ") : -len(" FOUND")])
    raise ScanFailed(f"clamd: {reply or 'no answer'}")


def database_version(*, address: str, timeout: float) -> str:
    """The signature database version clamd runs ("ClamAV 1.4.6/27480/..." -> "27480/...")."""
    try:
        with _connect(address, timeout) as sock:
            sock.sendall(b"zVERSION\x00")
            reply = _read_reply(sock)
    except OSError as error:
        raise ScanFailed(f"clamd connection failed: {error}") from error
    if not reply.startswith("ClamAV "):
        raise ScanFailed(f"clamd: unexpected VERSION reply {reply!r}")
    _engine, _sep, database = reply.partition("/")
    return database or reply
