"""Streaming compression and AES-256-GCM encryption of backup parts, in chunks.

A part is a header and a sequence of records, each the GCM encryption of at most CHUNK_BYTES of
(zlib-compressed) data; nothing larger than one chunk is ever held in memory, whatever the size of
the part. Layout:

    header  = MAGIC (8) | key id (8) | salt (16) | flags (1)
    record  = ciphertext length (4, big-endian) | final (1) | ciphertext + GCM tag

Each part gets its own key, HKDF-SHA256(backup key, salt), so the record index can be the nonce
(never reused under one key). Every record authenticates the header, its index and whether it is
the last one: a record that was changed, reordered, dropped or cut off fails, and so does a part
that ends before its final record (truncation) or carries anything after it.

The key id (HMAC of a constant under the backup key) tells a wrong key apart from damage without
revealing anything about the key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
import zlib
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.utils.translation import gettext as _

from apps.ops.backups.errors import (
    BackupCorrupt,
    BackupKeyInvalid,
    BackupKeyMismatch,
    BackupKeyMissing,
)

MAGIC = b"ENCBKP\x00\x01"
CHUNK_BYTES = 1024 * 1024
TAG_BYTES = 16
FLAG_ZLIB = 0x01
_HEADER = struct.Struct(">8s8s16sB")
_RECORD = struct.Struct(">IB")
_MAX_RECORD = CHUNK_BYTES + TAG_BYTES


def generate_key() -> str:
    """A new random backup key, as ENCLAVE_BACKUP_KEY expects it (base64 of 32 bytes)."""
    return base64.b64encode(os.urandom(32)).decode("ascii")


def decode_key(encoded: str) -> bytes:
    """The 32 key bytes of a base64 ENCLAVE_BACKUP_KEY value."""
    try:
        key = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BackupKeyInvalid() from exc
    if len(key) != 32:
        raise BackupKeyInvalid()
    return key


def configured_key() -> bytes:
    """The backup key from ENCLAVE_BACKUP_KEY; refuses to go on without one."""
    encoded = getattr(settings, "ENCLAVE_BACKUP_KEY", "") or ""
    if not encoded.strip():
        raise BackupKeyMissing()
    return decode_key(encoded)


def key_id(key: bytes) -> str:
    """A short public fingerprint of the key (recorded in every part and the manifest)."""
    return hmac.new(key, b"enclave-backup key id", hashlib.sha256).hexdigest()[:16]


def _part_key(key: bytes, salt: bytes) -> AESGCM:
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=salt, info=b"enclave-backup v1 part"
    ).derive(key)
    return AESGCM(derived)


def _nonce(index: int) -> bytes:
    return index.to_bytes(12, "big")


def _aad(header: bytes, index: int, final: bool) -> bytes:
    return header + struct.pack(">QB", index, 1 if final else 0)


class EncryptingWriter:
    """A write-only stream that compresses and encrypts into `raw` (not closed by `close`)."""

    def __init__(self, raw: BinaryIO, key: bytes, *, compress: bool = True) -> None:
        self._raw = raw
        salt = os.urandom(16)
        self._header = _HEADER.pack(
            MAGIC, bytes.fromhex(key_id(key)), salt, FLAG_ZLIB if compress else 0
        )
        self._aead = _part_key(key, salt)
        self._compressor = zlib.compressobj(6) if compress else None
        self._pending = bytearray()
        self._index = 0
        self._closed = False
        self.plain_bytes = 0
        raw.write(self._header)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._closed:
            raise ValueError("write to a closed backup part")
        length = len(data)
        self.plain_bytes += length
        self._pending += self._compressor.compress(data) if self._compressor else data
        # Keep at least one byte back: the last record is only known at close.
        while len(self._pending) > CHUNK_BYTES:
            self._emit(bytes(self._pending[:CHUNK_BYTES]), final=False)
            del self._pending[:CHUNK_BYTES]
        return length

    def close(self) -> None:
        if self._closed:
            return
        if self._compressor is not None:
            self._pending += self._compressor.flush()
        while len(self._pending) > CHUNK_BYTES:
            self._emit(bytes(self._pending[:CHUNK_BYTES]), final=False)
            del self._pending[:CHUNK_BYTES]
        self._emit(bytes(self._pending), final=True)
        self._pending.clear()
        self._closed = True

    def _emit(self, chunk: bytes, *, final: bool) -> None:
        sealed = self._aead.encrypt(
            _nonce(self._index), chunk, _aad(self._header, self._index, final)
        )
        self._raw.write(_RECORD.pack(len(sealed), 1 if final else 0))
        self._raw.write(sealed)
        self._index += 1


class DecryptingReader:
    """A read-only stream of the plain bytes of an encrypted part; refuses damage and wrong keys.

    `name` names the part in error messages.
    """

    def __init__(self, raw: BinaryIO, key: bytes, *, name: str) -> None:
        self._raw = raw
        self._name = name
        header = raw.read(_HEADER.size)
        if len(header) < _HEADER.size:
            raise self._corrupt(_("it is shorter than its header"))
        magic, part_key_id, salt, flags = _HEADER.unpack(header)
        if magic != MAGIC:
            raise self._corrupt(_("it is not an Enclave backup part"))
        if part_key_id.hex() != key_id(key):
            raise BackupKeyMismatch(
                _(
                    "Backup part %(name)s was encrypted with a different key (key id %(found)s) "
                    "than ENCLAVE_BACKUP_KEY (key id %(expected)s)."
                )
                % {"name": name, "found": part_key_id.hex(), "expected": key_id(key)}
            )
        self._header = header
        self._aead = _part_key(key, salt)
        self._decompressor = zlib.decompressobj() if flags & FLAG_ZLIB else None
        self._tail = b""
        self._buffer = bytearray()
        self._index = 0
        self._final_seen = False

    def _corrupt(self, reason: str) -> BackupCorrupt:
        return BackupCorrupt(
            _("Backup part %(name)s is damaged: %(reason)s.")
            % {"name": self._name, "reason": reason}
        )

    def _next_record(self) -> bytes | None:
        """The next decrypted record, or None after the final one (checked to be the end)."""
        if self._final_seen:
            if self._raw.read(1):
                raise self._corrupt(_("there are bytes after its last record"))
            return None
        prefix = self._raw.read(_RECORD.size)
        if len(prefix) < _RECORD.size:
            raise self._corrupt(_("it is truncated (its last record is missing)"))
        length, final = _RECORD.unpack(prefix)
        if length < TAG_BYTES or length > _MAX_RECORD or final not in (0, 1):
            raise self._corrupt(
                _("record %(index)d has an impossible length") % {"index": self._index}
            )
        sealed = self._raw.read(length)
        if len(sealed) < length:
            raise self._corrupt(_("it is truncated (its last record is missing)"))
        try:
            plain = self._aead.decrypt(
                _nonce(self._index), sealed, _aad(self._header, self._index, bool(final))
            )
        except InvalidTag as exc:
            raise self._corrupt(
                _("record %(index)d fails authentication (changed or cut)") % {"index": self._index}
            ) from exc
        self._index += 1
        self._final_seen = bool(final)
        return plain

    def _fill(self, want: int) -> None:
        while len(self._buffer) < want:
            if self._decompressor is not None and self._tail:
                room = max(want - len(self._buffer), 64 * 1024)
                self._buffer += self._decompressor.decompress(self._tail, room)
                self._tail = self._decompressor.unconsumed_tail
                continue
            record = self._next_record()
            if record is None:
                if self._decompressor is not None:
                    self._buffer += self._decompressor.flush()
                    if not self._decompressor.eof:
                        raise self._corrupt(_("its compressed stream is incomplete"))
                    self._decompressor = None
                return
            if self._decompressor is not None:
                self._tail = record
            else:
                self._buffer += record

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            chunks = []
            while block := self.read(CHUNK_BYTES):
                chunks.append(block)
            return b"".join(chunks)
        self._fill(size)
        block = bytes(self._buffer[:size])
        del self._buffer[:size]
        return block

    def verify_to_end(self) -> None:
        """Read and authenticate everything that is left (the reader is then exhausted)."""
        while self.read(CHUNK_BYTES):
            pass
