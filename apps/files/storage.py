"""Where file bytes live: the "enclave_files" storage (local disk, or S3 by configuration).

Every byte read or written through this module passes the encryption at rest
(`apps/files/encryption.py`): `save_stored` encrypts under the active key when keys are
configured, `open_stored` / `iter_stored` give the plaintext of an encrypted object or of one
stored in the clear. Nothing else in Enclave opens the storage's objects for their contents
(backups copy them as they are: ciphertext).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, cast

from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, storages

from apps.files.encryption import (
    DecryptingReader,
    EncryptingReader,
    Header,
    configured_keyring,
    encrypted_chunks,
    read_header,
)

READ_BYTES = 1024 * 1024


def files_storage() -> Storage:
    return storages["enclave_files"]


def blob_name(sha256: str) -> str:
    return f"blobs/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def thumbnail_name(sha256: str, size: int) -> str:
    return f"thumbnails/{sha256[:2]}/{sha256}-{size}.png"


def chunk_name(session_id: object, index: int) -> str:
    return f"uploads/{session_id}/{index:06d}"


def hash_stream(source: IO[bytes]) -> tuple[str, int]:
    """SHA-256 and length of a seekable stream, read from its start; rewinds it after."""
    source.seek(0)
    digest = hashlib.sha256()
    size = 0
    while block := source.read(READ_BYTES):
        digest.update(block)
        size += len(block)
    source.seek(0)
    return digest.hexdigest(), size


class ClearReader:
    """An object stored in the clear, with the same surface as a DecryptingReader."""

    key_id = ""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        handle.seek(0, os.SEEK_END)
        self.size = handle.tell()
        handle.seek(0)

    def read(self, size: int = -1) -> bytes:
        return self._handle.read(size)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._handle.seek(offset, whence)

    def tell(self) -> int:
        return self._handle.tell()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> ClearReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


StoredReader = DecryptingReader | ClearReader


def open_stored(name: str) -> StoredReader:
    """The plaintext of a stored object as a seekable stream with `size` and `key_id` ("" when
    stored in the clear). Raises StoredFileError (an OSError) when an encrypted object's key is
    not configured or the object fails authentication."""
    handle = cast(IO[bytes], files_storage().open(name, "rb"))
    try:
        header = read_header(handle)
        if header is None:
            return ClearReader(handle)
        return DecryptingReader(handle, header, keyring=configured_keyring())
    except BaseException:
        handle.close()
        raise


def stored_header(name: str) -> Header | None:
    """The encryption header of a stored object (None: stored in the clear); reads only it."""
    with files_storage().open(name, "rb") as handle:
        return read_header(cast(IO[bytes], handle))


def iter_stored(name: str, *, start: int = 0, length: int | None = None) -> Iterator[bytes]:
    """The plaintext of `name` from `start`, `length` bytes (all by default), in blocks: never
    the whole file in memory."""
    with open_stored(name) as reader:
        reader.seek(start)
        left = reader.size - start if length is None else length
        while left > 0:
            block = reader.read(min(READ_BYTES, left))
            if not block:
                break
            left -= len(block)
            yield block


def save_stored(name: str, source: IO[bytes]) -> str:
    """Store `source` (read from its start) under `name`, encrypted under the active key when
    file encryption is on; returns the name the storage chose (as Storage.save does)."""
    source.seek(0)
    keyring = configured_keyring()
    content: Any = source if keyring is None else EncryptingReader(source, keyring=keyring)
    return files_storage().save(name, File(content, name=os.path.basename(name)))


def replace_stored(name: str, source: IO[bytes] | StoredReader) -> None:
    """Write `source` over the existing object `name`, encrypted under the active key, so that
    a reader sees the old object or the new one, never a mixture (re-encryption).

    Local disk: a temporary file in the same directory renamed over the old one (a reader
    that opened the old one keeps reading it). Object storage: one PUT replaces the object.
    """
    keyring = configured_keyring()
    if keyring is None:
        raise ValueError("replace_stored re-encrypts: file encryption must be on")
    storage = files_storage()
    source.seek(0)
    if isinstance(storage, FileSystemStorage):
        target = Path(storage.path(name))
        descriptor, temporary = tempfile.mkstemp(prefix=".reencrypt-", dir=target.parent)
        try:
            with os.fdopen(descriptor, "wb") as out:
                for chunk in encrypted_chunks(source, keyring=keyring):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temporary, target.stat().st_mode & 0o777)
            os.replace(temporary, target)
        finally:
            Path(temporary).unlink(missing_ok=True)
        return
    # django-storages' S3 backend: _save PUTs the object under exactly this name.
    encrypted: Any = EncryptingReader(source, keyring=keyring)
    storage._save(name, File(encrypted, name=name))  # type: ignore[attr-defined]
