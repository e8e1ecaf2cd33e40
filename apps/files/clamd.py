"""A minimal clamd client: INSTREAM and VERSION over a unix or TCP socket.

The protocol (clamd(8)): send `zINSTREAM\\0`, then chunks each prefixed with its length as a
4-byte big-endian integer, then a zero length; clamd answers one NUL-terminated line:
`stream: OK`, `stream: <signature> FOUND`, or `... ERROR`. Every failure to get one of the
first two answers is a `ScanFailed`, so a caller can only ever conclude "clean" from an `OK`.

clamd stops reading an archive at its limits (MaxFileSize, MaxScanSize, MaxRecursion, MaxFiles,
MaxScanTime, ...) and, as it ships, answers `OK` for what it never read. Configured with
`CLAMD_REQUIRED_SETTINGS` it answers `stream: Heuristics.Limits.Exceeded.<limit> FOUND`
instead: that is no verdict either (not a virus, not clean) and raises `ScanLimitExceeded`.
An `OK` is only worth something from a clamd that does report exceeded limits, which
`reports_exceeded_limits` checks with a tiny probe.
"""

from __future__ import annotations

import os
import socket
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlparse

CHUNK_BYTES = 64 * 1024
MAX_REPLY_BYTES = 4096
# What clamd names a limit it stopped at (with AlertExceedsMax): `...Exceeded.MaxRecursion` etc.
LIMIT_SIGNATURE_PREFIX = "Heuristics.Limits.Exceeded"
# gzip layers of the probe: one more than clamd may unpack when its MaxRecursion is at most this
# (clamd's default is 17). About 26 bytes a layer.
PROBE_DEPTH = 64
GZIP_WBITS = 16 + zlib.MAX_WBITS  # zlib writes a gzip header and trailer

# The clamd.conf lines Enclave relies on, for every clamd it scans with (`make run`'s, in
# local_clamd.py, and the one the deployment installs). Sizes are the deployment's own choice:
# StreamMaxLength >= ENCLAVE_UPLOAD_MAX_BYTES (else large uploads fail), MaxFileSize >=
# StreamMaxLength, MaxScanSize above that (what is unpacked from one file, in total).
CLAMD_REQUIRED_SETTINGS = {
    # Report a file clamd stopped scanning at a limit as Heuristics.Limits.Exceeded.* instead of
    # answering OK for bytes it never read. Enclave marks such files `failed`.
    "AlertExceedsMax": "yes",
    # Look inside archives (zip, gzip, tar, ...) at all.
    "ScanArchive": "yes",
    # Heuristic alerts (limits among them) are reported only at the end of the scan, so a real
    # signature found in the same file wins: `infected`, not `failed`.
    "HeuristicScanPrecedence": "no",
    # Nested archives: clamd's default. At most PROBE_DEPTH, or the probe cannot reach it and
    # Enclave, unable to tell that limits are reported, passes nothing as clean.
    "MaxRecursion": "17",
    # Members of one archive: clamd's default.
    "MaxFiles": "10000",
}


class ScanFailed(Exception):
    """clamd could not give a verdict (down, timed out, stream too large, garbled reply)."""


class ScanLimitExceeded(ScanFailed):
    """clamd stopped short of the whole file at one of its limits: no verdict.

    `limit` is what clamd said: `Heuristics.Limits.Exceeded.MaxFileSize`, ..., or the
    `INSTREAM size limit exceeded` error for a stream above StreamMaxLength.
    """

    def __init__(self, limit: str) -> None:
        super().__init__(f"clamd stopped at a limit: {limit}")
        self.limit = limit


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
    return verdict_of(reply)


def verdict_of(reply: str) -> Verdict:
    """clamd's INSTREAM answer as a verdict; ScanLimitExceeded or ScanFailed without one."""
    if reply == "stream: OK":
        return Verdict(infected=False, signature="")
    if reply.startswith("stream: ") and reply.endswith(" FOUND"):
        signature = reply[len("stream: ") : -len(" FOUND")]
        if signature.startswith(LIMIT_SIGNATURE_PREFIX):
            raise ScanLimitExceeded(signature)
        return Verdict(infected=True, signature=signature)
    if "size limit exceeded" in reply:  # "INSTREAM size limit exceeded. ERROR"
        raise ScanLimitExceeded(reply.removesuffix(" ERROR").rstrip("."))
    raise ScanFailed(f"clamd: {reply or 'no answer'}")


def limits_probe() -> bytes:
    """A file nested PROBE_DEPTH gzip layers deep, about 1.7 kB: past clamd's MaxRecursion.

    The innermost bytes are random, so no layer is ever in clamd's cache of files it found
    clean (a cached layer would not be unpacked again, and the probe would pass).
    """
    data = b"enclave limits probe " + os.urandom(16)
    for _layer in range(PROBE_DEPTH):
        # Stored (level 0) with the least memory: the layers are for clamd to unpack, not to be
        # small, and this builds in a fraction of the time gzip.compress takes.
        layer = zlib.compressobj(0, zlib.DEFLATED, GZIP_WBITS, 1)
        data = layer.compress(data) + layer.flush()
    return data


def reports_exceeded_limits(*, address: str, timeout: float) -> bool:
    """Whether clamd reports a file it stopped scanning at a limit (AlertExceedsMax yes).

    Scans `limits_probe()`: True when clamd answers Heuristics.Limits.Exceeded, False when it
    answers OK (limits pass silently) or finds something else. Raises ScanFailed when clamd
    gives no answer.
    """
    try:
        scan_stream([limits_probe()], address=address, timeout=timeout)
    except ScanLimitExceeded:
        return True
    return False


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
