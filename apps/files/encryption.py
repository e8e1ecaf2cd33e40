"""Encryption at rest of stored files: AES-256-GCM envelope encryption, in segments.

Every object gets a random 256-bit data key, wrapped by a key-encryption key (KEK) of the
keyring (`configured_keyring()`: the environment's ENCLAVE_FILES_ENCRYPTION_KEYS today; a
KMS or Vault backend implements the same `Keyring` protocol). The object is self-describing:

    header  = MAGIC (8) | segment bytes (4) | nonce prefix (7)
              | key id length (1) | key id | wrapped key length (2) | wrapped data key
    segment = AES-256-GCM(data key, nonce, plaintext segment, associated data = header)
    nonce   = nonce prefix (7) | segment index (4, big-endian) | 1 if last else 0 (1)

Plaintext is cut into SEGMENT_BYTES segments (the last one shorter, or empty for an empty
file); each is sealed alone, so a reader decrypts only the segments it needs (an HTTP Range)
and never holds more than one. The index and the "last" flag in the nonce make a reordered,
dropped or cut-off segment fail authentication, and the header (key id, wrapped key) is
authenticated by every segment. `DecryptingReader` checks the last segment when it opens, so
a truncated object is refused before any byte of it is served.

Objects without MAGIC are read as they are: files stored before encryption was turned on
(the re-encryption job, `apps/files/key_rotation.py`, encrypts them).
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import IO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

MAGIC = b"ENCLFE\x00\x01"  # the last byte is the format's version
SEGMENT_BYTES = 64 * 1024
TAG_BYTES = 16
NONCE_PREFIX_BYTES = 7
DATA_KEY_BYTES = 32
# Bounds a reader accepts for a header field (a damaged header must not make it allocate GBs).
MIN_SEGMENT_BYTES = 1024
MAX_SEGMENT_BYTES = 16 * 1024 * 1024
MAX_WRAPPED_BYTES = 4096
_FIXED = struct.Struct(">8sI7sB")
KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_WRAP_CONTEXT = b"enclave files data key:"


class StoredFileError(OSError):
    """A stored object cannot be read as plaintext. An OSError, so every reader that already
    treats an unreadable file as "no preview" or "scan failed" does the same with this."""


class StoredFileCorrupt(StoredFileError):
    """An encrypted object failed authentication: changed, truncated, reordered or damaged."""


class EncryptionKeyUnavailable(StoredFileError):
    """An encrypted object names a key id the keyring does not hold (or cannot unwrap)."""

    def __init__(self, key_id: str, reason: str = "") -> None:
        message = (
            f"stored file encrypted under key id {key_id!r}, which is not configured "
            "(ENCLAVE_FILES_ENCRYPTION_KEYS)"
        )
        super().__init__(f"{message}: {reason}" if reason else message)
        self.key_id = key_id


# --- keyrings -------------------------------------------------------------------------------------


class Keyring(Protocol):
    """Wraps and unwraps data keys. `active_key_id` wraps new ones; every key id it lists can
    unwrap. A KMS or Vault backend implements these three members."""

    @property
    def active_key_id(self) -> str: ...

    def key_ids(self) -> tuple[str, ...]: ...

    def wrap(self, data_key: bytes) -> tuple[str, bytes]: ...

    def unwrap(self, key_id: str, wrapped: bytes) -> bytes: ...


class EnvironmentKeyring:
    """KEKs held in the process (ENCLAVE_FILES_ENCRYPTION_KEYS); data keys wrapped with
    AES-256-GCM under the KEK, the key id as associated data."""

    def __init__(self, keys: dict[str, bytes], active_key_id: str) -> None:
        if active_key_id not in keys:
            raise ImproperlyConfigured(
                f"ENCLAVE_FILES_ENCRYPTION_ACTIVE_KEY {active_key_id!r} is not one of the key ids "
                "of ENCLAVE_FILES_ENCRYPTION_KEYS"
            )
        self._keys = dict(keys)
        self._active = active_key_id

    @property
    def active_key_id(self) -> str:
        return self._active

    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def wrap(self, data_key: bytes) -> tuple[str, bytes]:
        nonce = os.urandom(12)
        sealed = AESGCM(self._keys[self._active]).encrypt(
            nonce, data_key, _WRAP_CONTEXT + self._active.encode()
        )
        return self._active, nonce + sealed

    def unwrap(self, key_id: str, wrapped: bytes) -> bytes:
        key = self._keys.get(key_id)
        if key is None:
            raise EncryptionKeyUnavailable(key_id)
        try:
            data_key = AESGCM(key).decrypt(
                wrapped[:12], wrapped[12:], _WRAP_CONTEXT + key_id.encode()
            )
        except InvalidTag:
            # The id is known but its key does not open the data key: the operator changed
            # the key behind an id (never do that), or the header was tampered with.
            raise EncryptionKeyUnavailable(key_id, "the key does not unwrap it") from None
        if len(data_key) != DATA_KEY_BYTES:
            raise StoredFileCorrupt("wrapped data key of the wrong length")
        return data_key


def generate_key() -> str:
    """A new random KEK, as ENCLAVE_FILES_ENCRYPTION_KEYS expects it (base64 of 32 bytes)."""
    return base64.b64encode(os.urandom(32)).decode("ascii")


def parse_keys(value: str) -> dict[str, bytes]:
    """`id1:base64,id2:base64` (whitespace ignored) -> {key id: 32 key bytes}."""
    keys: dict[str, bytes] = {}
    for item in value.replace("\n", ",").split(","):
        item = item.strip()
        if not item:
            continue
        key_id, sep, encoded = item.partition(":")
        key_id = key_id.strip()
        if not sep or not KEY_ID_PATTERN.match(key_id):
            raise ImproperlyConfigured(
                "ENCLAVE_FILES_ENCRYPTION_KEYS: each entry is <key id>:<base64 of 32 bytes>, "
                "the key id of letters, digits, '.', '_' or '-' (at most 64)"
            )
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != 32:
            raise ImproperlyConfigured(
                f"ENCLAVE_FILES_ENCRYPTION_KEYS: key {key_id!r} is not base64 of 32 bytes"
            )
        if key_id in keys:
            raise ImproperlyConfigured(f"ENCLAVE_FILES_ENCRYPTION_KEYS: key {key_id!r} twice")
        keys[key_id] = key
    return keys


@lru_cache(maxsize=4)
def _environment_keyring(keys: str, active: str) -> EnvironmentKeyring | None:
    parsed = parse_keys(keys)
    if not parsed:
        if active:
            raise ImproperlyConfigured(
                "ENCLAVE_FILES_ENCRYPTION_ACTIVE_KEY is set but ENCLAVE_FILES_ENCRYPTION_KEYS "
                "holds no key"
            )
        return None
    if not active:
        raise ImproperlyConfigured(
            "ENCLAVE_FILES_ENCRYPTION_KEYS is set: ENCLAVE_FILES_ENCRYPTION_ACTIVE_KEY must "
            "name the key id that encrypts new files"
        )
    return EnvironmentKeyring(parsed, active)


@lru_cache(maxsize=4)
def _vault_keyring(address: str, token: str, mount: str, key_name: str) -> Keyring:
    from apps.files.vault_keyring import VaultTransitKeyring

    if not (address and token and key_name):
        raise ImproperlyConfigured(
            "ENCLAVE_FILES_KEYRING=vault needs ENCLAVE_FILES_VAULT_ADDR, "
            "ENCLAVE_FILES_VAULT_TOKEN and ENCLAVE_FILES_VAULT_KEY"
        )
    return VaultTransitKeyring(address=address, token=token, mount=mount, key_name=key_name)


def configured_keyring() -> Keyring | None:
    """The keyring of the settings; None when file encryption is off (no keys configured).

    ENCLAVE_FILES_KEYRING chooses where the KEKs are: "environment" (the default,
    ENCLAVE_FILES_ENCRYPTION_KEYS) or "vault" (HashiCorp Vault's Transit engine)."""
    backend = getattr(settings, "ENCLAVE_FILES_KEYRING", "environment") or "environment"
    if backend == "vault":
        return _vault_keyring(
            settings.ENCLAVE_FILES_VAULT_ADDR,
            settings.ENCLAVE_FILES_VAULT_TOKEN,
            settings.ENCLAVE_FILES_VAULT_TRANSIT_MOUNT,
            settings.ENCLAVE_FILES_VAULT_KEY,
        )
    if backend != "environment":
        raise ImproperlyConfigured(
            f"ENCLAVE_FILES_KEYRING must be 'environment' or 'vault', not {backend!r}"
        )
    return _environment_keyring(
        settings.ENCLAVE_FILES_ENCRYPTION_KEYS or "",
        (settings.ENCLAVE_FILES_ENCRYPTION_ACTIVE_KEY or "").strip(),
    )


def encryption_enabled() -> bool:
    """New objects are encrypted (a keyring with an active key is configured)."""
    return configured_keyring() is not None


# --- the format -----------------------------------------------------------------------------------


def _nonce(prefix: bytes, index: int, *, last: bool) -> bytes:
    return prefix + struct.pack(">IB", index, 1 if last else 0)


@dataclass(frozen=True, slots=True)
class Header:
    raw: bytes
    segment_bytes: int
    nonce_prefix: bytes
    key_id: str
    wrapped_key: bytes


def _build_header(*, key_id: str, wrapped: bytes, nonce_prefix: bytes) -> bytes:
    encoded = key_id.encode()
    return (
        _FIXED.pack(MAGIC, SEGMENT_BYTES, nonce_prefix, len(encoded))
        + encoded
        + struct.pack(">H", len(wrapped))
        + wrapped
    )


def read_header(handle: IO[bytes]) -> Header | None:
    """The header at the handle's start; None when the object is stored in the clear.

    Leaves the handle just after the header (or at 0 for a clear object)."""
    handle.seek(0)
    fixed = handle.read(_FIXED.size)
    if len(fixed) < len(MAGIC) or fixed[: len(MAGIC)] != MAGIC:
        handle.seek(0)
        return None
    if len(fixed) < _FIXED.size:
        raise StoredFileCorrupt("encrypted file header cut short")
    _magic, segment_bytes, prefix, id_length = _FIXED.unpack(fixed)
    key_id_raw = handle.read(id_length)
    length_raw = handle.read(2)
    if len(key_id_raw) != id_length or len(length_raw) != 2:
        raise StoredFileCorrupt("encrypted file header cut short")
    (wrapped_length,) = struct.unpack(">H", length_raw)
    if not (MIN_SEGMENT_BYTES <= segment_bytes <= MAX_SEGMENT_BYTES) or not (
        0 < wrapped_length <= MAX_WRAPPED_BYTES
    ):
        raise StoredFileCorrupt("encrypted file header out of bounds")
    wrapped = handle.read(wrapped_length)
    if len(wrapped) != wrapped_length:
        raise StoredFileCorrupt("encrypted file header cut short")
    try:
        key_id = key_id_raw.decode("ascii")
    except UnicodeDecodeError:
        raise StoredFileCorrupt("encrypted file header has an unreadable key id") from None
    return Header(
        raw=fixed + key_id_raw + length_raw + wrapped,
        segment_bytes=segment_bytes,
        nonce_prefix=prefix,
        key_id=key_id,
        wrapped_key=wrapped,
    )


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def encrypted_chunks(source: Readable, *, keyring: Keyring) -> Iterator[bytes]:
    """The encrypted form of `source` (read from where it stands): the header, then one sealed
    segment at a time. One segment of look-ahead tells which segment is the last."""
    data_key = AESGCM.generate_key(bit_length=256)
    key_id, wrapped = keyring.wrap(data_key)
    prefix = os.urandom(NONCE_PREFIX_BYTES)
    header = _build_header(key_id=key_id, wrapped=wrapped, nonce_prefix=prefix)
    cipher = AESGCM(data_key)
    yield header
    current = _read_full(source, SEGMENT_BYTES)
    index = 0
    while True:
        following = _read_full(source, SEGMENT_BYTES) if len(current) == SEGMENT_BYTES else b""
        last = not following
        yield cipher.encrypt(_nonce(prefix, index, last=last), current, header)
        if last:
            return
        current = following
        index += 1


def _read_full(source: Readable, size: int) -> bytes:
    """Exactly `size` bytes unless the stream ends first (a read may return fewer)."""
    parts = []
    wanted = size
    while wanted > 0:
        block = source.read(wanted)
        if not block:
            break
        parts.append(block)
        wanted -= len(block)
    return b"".join(parts)


class EncryptingReader(io.RawIOBase):
    """A readable stream of the encrypted form of `source`, for storages that pull (S3 uploads
    read a file object) as well as those that iterate; holds one segment at a time."""

    def __init__(self, source: Readable, *, keyring: Keyring) -> None:
        super().__init__()
        self._chunks = encrypted_chunks(source, keyring=keyring)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


class DecryptingReader(io.RawIOBase):
    """The plaintext of an encrypted object as a seekable read-only stream.

    Decrypts the segments a read touches, one at a time (the last one read is kept). Opening
    unwraps the data key and authenticates the last segment, so a wrong key or a truncated
    object fails here, before anything is served. Closes `handle` when closed.
    """

    def __init__(self, handle: IO[bytes], header: Header, *, keyring: Keyring | None) -> None:
        super().__init__()
        self._handle = handle
        self._header = header
        if keyring is None:
            raise EncryptionKeyUnavailable(header.key_id, "file encryption is not configured")
        self._cipher = AESGCM(keyring.unwrap(header.key_id, header.wrapped_key))
        handle.seek(0, io.SEEK_END)
        body = handle.tell() - len(header.raw)
        sealed = header.segment_bytes + TAG_BYTES
        full, rest = divmod(body, sealed)
        if rest == 0 and full > 0:
            self._segments, self.size = full, full * header.segment_bytes
        elif rest >= TAG_BYTES and (full == 0 or rest > TAG_BYTES):
            self._segments = full + 1
            self.size = full * header.segment_bytes + rest - TAG_BYTES
        else:
            raise StoredFileCorrupt("encrypted file of an impossible length (cut short?)")
        self._position = 0
        self._cached_index = -1
        self._cached = b""
        self._segment(self._segments - 1)

    @property
    def key_id(self) -> str:
        return self._header.key_id

    def _segment(self, index: int) -> bytes:
        if index == self._cached_index:
            return self._cached
        header = self._header
        sealed = header.segment_bytes + TAG_BYTES
        last = index == self._segments - 1
        expected = (self.size - index * header.segment_bytes + TAG_BYTES) if last else sealed
        self._handle.seek(len(header.raw) + index * sealed)
        data = _read_full(self._handle, expected)
        if len(data) != expected:
            raise StoredFileCorrupt(f"encrypted file cut short at segment {index}")
        try:
            plain = self._cipher.decrypt(
                _nonce(header.nonce_prefix, index, last=last), data, header.raw
            )
        except InvalidTag:
            raise StoredFileCorrupt(
                f"encrypted file failed authentication at segment {index}"
            ) from None
        self._cached_index, self._cached = index, plain
        return plain

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            position = offset
        elif whence == io.SEEK_CUR:
            position = self._position + offset
        elif whence == io.SEEK_END:
            position = self.size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if position < 0:
            raise ValueError("negative seek position")
        self._position = position
        return position

    def read(self, size: int | None = -1) -> bytes:
        """Up to `size` bytes (all that is left by default) across as many segments as needed;
        whole segments are joined without an intermediate copy."""
        remaining = max(0, self.size - self._position)
        wanted = remaining if size is None or size < 0 else min(size, remaining)
        pieces = []
        segment_bytes = self._header.segment_bytes
        while wanted > 0:
            index, offset = divmod(self._position, segment_bytes)
            plain = self._segment(index)
            piece = plain[offset : offset + wanted]  # the segment itself when it is all wanted
            pieces.append(piece)
            self._position += len(piece)
            wanted -= len(piece)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._position >= self.size or not len(buffer):
            return 0
        segment_bytes = self._header.segment_bytes
        index, offset = divmod(self._position, segment_bytes)
        plain = self._segment(index)
        count = min(len(buffer), len(plain) - offset)
        buffer[:count] = memoryview(plain)[offset : offset + count]
        self._position += count
        return count

    def close(self) -> None:
        if not self.closed:
            self._handle.close()
        super().close()
