"""A tiny STUN/TURN client (RFC 5389, RFC 5766): enough to ask a TURN server for an allocation
with long-term credentials and read its answer. Used by the `turn` tests against a real coturn.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
import struct
import zlib
from dataclasses import dataclass, field

MAGIC_COOKIE = 0x2112A442
BINDING_REQUEST = 0x0001
ALLOCATE_REQUEST = 0x0003
ALLOCATE_SUCCESS = 0x0103
ALLOCATE_ERROR = 0x0113

ATTR_USERNAME = 0x0006
ATTR_MESSAGE_INTEGRITY = 0x0008
ATTR_ERROR_CODE = 0x0009
ATTR_REALM = 0x0014
ATTR_NONCE = 0x0015
ATTR_XOR_RELAYED_ADDRESS = 0x0016
ATTR_REQUESTED_TRANSPORT = 0x0019
ATTR_FINGERPRINT = 0x8028
UDP_TRANSPORT = 17


@dataclass
class Message:
    kind: int
    transaction_id: bytes
    attributes: dict[int, bytes] = field(default_factory=dict)

    @property
    def error_code(self) -> int | None:
        value = self.attributes.get(ATTR_ERROR_CODE)
        if value is None:
            return None
        return (value[2] & 0x7) * 100 + value[3]

    def text(self, attribute: int) -> str:
        return self.attributes[attribute].decode()

    @property
    def relayed_address(self) -> tuple[str, int]:
        value = self.attributes[ATTR_XOR_RELAYED_ADDRESS]
        port = struct.unpack("!H", value[2:4])[0] ^ (MAGIC_COOKIE >> 16)
        raw = struct.unpack("!I", value[4:8])[0] ^ MAGIC_COOKIE
        return socket.inet_ntoa(struct.pack("!I", raw)), port


def _attribute(kind: int, value: bytes) -> bytes:
    padding = b"\x00" * (-len(value) % 4)
    return struct.pack("!HH", kind, len(value)) + value + padding


def _header(kind: int, length: int, transaction_id: bytes) -> bytes:
    return struct.pack("!HHI", kind, length, MAGIC_COOKIE) + transaction_id


def build(
    kind: int,
    attributes: list[tuple[int, bytes]],
    *,
    transaction_id: bytes | None = None,
    integrity_key: bytes | None = None,
) -> tuple[bytes, bytes]:
    """A STUN message (and its transaction id), with MESSAGE-INTEGRITY and FINGERPRINT."""
    transaction_id = transaction_id or os.urandom(12)
    body = b"".join(_attribute(k, v) for k, v in attributes)
    if integrity_key is not None:
        # The HMAC covers the header with the length as if the integrity attribute were last.
        header = _header(kind, len(body) + 24, transaction_id)
        digest = hmac.new(integrity_key, header + body, hashlib.sha1).digest()
        body += _attribute(ATTR_MESSAGE_INTEGRITY, digest)
    header = _header(kind, len(body) + 8, transaction_id)
    crc = (zlib.crc32(header + body) ^ 0x5354554E) & 0xFFFFFFFF
    body += _attribute(ATTR_FINGERPRINT, struct.pack("!I", crc))
    return _header(kind, len(body), transaction_id) + body, transaction_id


def parse_message(data: bytes) -> Message:
    kind, length, cookie = struct.unpack("!HHI", data[:8])
    if cookie != MAGIC_COOKIE:
        raise ValueError("not a STUN message")
    message = Message(kind=kind, transaction_id=data[8:20])
    offset = 20
    while offset < 20 + length:
        attribute, size = struct.unpack("!HH", data[offset : offset + 4])
        message.attributes[attribute] = data[offset + 4 : offset + 4 + size]
        offset += 4 + size + (-size % 4)
    return message


def binding_request() -> tuple[bytes, bytes]:
    return build(BINDING_REQUEST, [])


def long_term_key(username: str, realm: str, password: str) -> bytes:
    """RFC 5389 §15.4: MD5(username ":" realm ":" password)."""
    return hashlib.md5(f"{username}:{realm}:{password}".encode()).digest()  # noqa: S324


class TurnClient:
    """One TURN client over UDP or TCP (RFC 5766 §2.1: STUN messages framed by their length)."""

    def __init__(self, host: str, port: int, *, transport: str = "udp") -> None:
        self.transport = transport
        if transport == "udp":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.connect((host, port))
        else:
            self.sock = socket.create_connection((host, port))
        self.sock.settimeout(5)

    def close(self) -> None:
        self.sock.close()

    def ask(self, request: bytes) -> Message:
        self.sock.send(request)
        if self.transport == "udp":
            return parse_message(self.sock.recv(4096))
        header = self._read(20)
        return parse_message(header + self._read(struct.unpack("!H", header[2:4])[0]))

    def _read(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise ConnectionError("the TURN server closed the connection")
            data += chunk
        return data

    def allocate(self, username: str, password: str) -> Message:
        """Allocate a UDP relay with long-term credentials: the unauthenticated request learns
        the realm and nonce from the 401, the second one carries USERNAME and integrity."""
        transport = [(ATTR_REQUESTED_TRANSPORT, bytes([UDP_TRANSPORT, 0, 0, 0]))]
        request, _tid = build(ALLOCATE_REQUEST, transport)
        challenge = self.ask(request)
        if challenge.error_code != 401:
            return challenge
        realm, nonce = challenge.text(ATTR_REALM), challenge.text(ATTR_NONCE)
        request, _tid = build(
            ALLOCATE_REQUEST,
            [
                *transport,
                (ATTR_USERNAME, username.encode()),
                (ATTR_REALM, realm.encode()),
                (ATTR_NONCE, nonce.encode()),
            ],
            integrity_key=long_term_key(username, realm, password),
        )
        return self.ask(request)
