"""The file-store part of a backup: stored files and avatars as one tar stream, file by file.

Two roots, each under a label that is the first component of every name in the archive:
"files" (the attachment store, ENCLAVE_FILES_ROOT) and "media" (MEDIA_ROOT: avatars). A root
nested in the other is archived once, under its own label; the backup directory is never
archived. Only regular files are archived (symbolic links are not followed). Each file is read
and written in blocks, hashed on the way; restoring writes each file under a temporary name and
renames it once its bytes are complete.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.utils.translation import gettext as _

from apps.files.storage import files_storage
from apps.ops.backups.crypto import CHUNK_BYTES
from apps.ops.backups.errors import BackupCorrupt

FILES = "files"
MEDIA = "media"


def configured_roots() -> dict[str, Path]:
    """The directories a backup archives and a restore fills, by label.

    Attachments on object storage (ENCLAVE_FILES_STORAGE=s3) are not archived: the object store
    keeps its own copies (docs/operations.md).
    """
    roots = {MEDIA: Path(settings.MEDIA_ROOT)}
    storage = files_storage()
    if isinstance(storage, FileSystemStorage):
        roots[FILES] = Path(storage.location)
    return roots


class _HashingReader:
    def __init__(self, handle: Any) -> None:
        self._handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        block = self._handle.read(size)
        self.digest.update(block)
        self.size += len(block)
        return bytes(block)


def archive_roots(*, out: Any, roots: dict[str, Path], exclude: list[Path]) -> list[dict[str, Any]]:
    """Write every regular file under `roots` to `out` as a tar stream; returns the manifest
    entries ({"root", "path", "sha256", "size"}) in archive order."""
    resolved_roots = {label: root.resolve() for label, root in roots.items()}
    entries: list[dict[str, Any]] = []
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for label, root in sorted(resolved_roots.items()):
            if not root.is_dir():
                continue
            skip = {p.resolve() for p in exclude} | {
                other for other_label, other in resolved_roots.items() if other_label != label
            }
            for directory, dirnames, filenames in os.walk(root):
                here = Path(directory)
                dirnames[:] = sorted(d for d in dirnames if (here / d).resolve() not in skip)
                for filename in sorted(filenames):
                    path = here / filename
                    if path.is_symlink() or not path.is_file():
                        continue
                    relative = path.relative_to(root).as_posix()
                    entry = _add_file(tar, path, f"{label}/{relative}")
                    if entry is not None:
                        entries.append({"root": label, "path": relative, **entry})
    return entries


def _add_file(tar: tarfile.TarFile, path: Path, name: str) -> dict[str, Any] | None:
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return None  # deleted since the directory was listed: not part of this backup
    with handle:
        stat = os.fstat(handle.fileno())
        info = tarfile.TarInfo(name)
        info.size = stat.st_size
        info.mtime = int(stat.st_mtime)
        info.mode = 0o640
        reader = _HashingReader(handle)
        tar.addfile(info, reader)
    return {"sha256": reader.digest.hexdigest(), "size": reader.size}


def _checked_name(name: str, labels: set[str]) -> tuple[str, str]:
    label, _sep, relative = name.partition("/")
    pure = PurePosixPath(relative)
    if (
        label not in labels
        or not relative
        or pure.is_absolute()
        or any(part in ("..", ".", "") for part in relative.split("/"))
    ):
        raise BackupCorrupt(
            _("The file archive holds an entry with an unsafe name: %(name)s") % {"name": name}
        )
    return label, relative


@dataclass
class ExtractedFile:
    sha256: str
    size: int


def extract_roots(
    *, reader: Any, roots: dict[str, Path], durable: bool = True
) -> dict[tuple[str, str], ExtractedFile]:
    """Extract the tar stream from `reader` into `roots`; returns what each file hashed to.

    `durable` fsyncs each file before its rename (a restore; a drill's scratch copy needs not).
    """
    written: dict[tuple[str, str], ExtractedFile] = {}
    try:
        tar = tarfile.open(fileobj=reader, mode="r|")  # noqa: SIM115 - closed by the with below
    except tarfile.TarError as exc:
        raise BackupCorrupt(
            _("The file archive cannot be read: %(error)s") % {"error": exc}
        ) from exc
    with tar:
        try:
            for member in tar:
                label, relative = _checked_name(member.name, set(roots))
                if not member.isreg():
                    raise BackupCorrupt(
                        _("The file archive holds an entry that is not a file: %(name)s")
                        % {"name": member.name}
                    )
                source = tar.extractfile(member)
                if source is None:  # pragma: no cover - isreg() members always have data
                    continue
                target = roots[label] / relative
                written[(label, relative)] = _write_file(source, target, durable=durable)
        except tarfile.TarError as exc:
            raise BackupCorrupt(
                _("The file archive cannot be read: %(error)s") % {"error": exc}
            ) from exc
    return written


def _write_file(source: Any, target: Path, *, durable: bool) -> ExtractedFile:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.restoring")
    digest = hashlib.sha256()
    size = 0
    try:
        with partial.open("wb") as handle:
            while block := source.read(CHUNK_BYTES):
                digest.update(block)
                size += len(block)
                handle.write(block)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return ExtractedFile(sha256=digest.hexdigest(), size=size)


def file_problems(
    manifest_files: list[dict[str, Any]], extracted: dict[tuple[str, str], ExtractedFile]
) -> list[str]:
    """Differences between the manifest's files and what the archive really held."""
    problems = []
    expected = {(e["root"], e["path"]): e for e in manifest_files}
    for key, entry in expected.items():
        found = extracted.get(key)
        if found is None:
            problems.append(_("file %(name)s is missing") % {"name": "/".join(key)})
        elif found.sha256 != entry["sha256"] or found.size != entry["size"]:
            problems.append(
                _("file %(name)s differs (SHA-256 %(found)s, manifest %(expected)s)")
                % {"name": "/".join(key), "found": found.sha256, "expected": entry["sha256"]}
            )
    for key in sorted(set(extracted) - set(expected)):
        problems.append(_("file %(name)s is not in the manifest") % {"name": "/".join(key)})
    return problems
