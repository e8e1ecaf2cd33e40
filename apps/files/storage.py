"""Where file bytes live: the "enclave_files" storage (local disk, or S3 by configuration)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import IO

from django.core.files.storage import FileSystemStorage, Storage, storages

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


def iter_stored(name: str) -> Iterator[bytes]:
    """The stored bytes of `name`, in blocks (never the whole file in memory)."""
    with files_storage().open(name, "rb") as handle:
        while block := handle.read(READ_BYTES):
            yield block


def local_path(name: str) -> str | None:
    """Filesystem path of a stored name on local storage; None on object storage."""
    storage = files_storage()
    if isinstance(storage, FileSystemStorage):
        return storage.path(name)
    return None
