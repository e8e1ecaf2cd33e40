"""Backup directories on disk: parts, the manifest, the lock, retention and the second copy.

A backup is the directory `enclave-YYYYmmddTHHMMSSZ` under ENCLAVE_BACKUP_DIR. It is written as
`.enclave-...partial`, every file fsynced, and renamed only when complete: a directory with the
final name always holds a whole backup. The manifest (encrypted like every part) is written
last; a backup without one is never listed.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from django.conf import settings
from django.utils.translation import gettext as _

from apps.ops.backups.crypto import DecryptingReader, EncryptingWriter
from apps.ops.backups.database import fsync_directory
from apps.ops.backups.errors import BackupBusy, BackupCorrupt, BackupError, BackupNotFound

MANIFEST = "manifest.json.enc"
FORMAT_VERSION = 1
_NAME = re.compile(r"^enclave-(\d{8}T\d{6}Z)$")
_NAME_TIME = "%Y%m%dT%H%M%SZ"
T = TypeVar("T")


def backup_root() -> Path:
    return Path(settings.ENCLAVE_BACKUP_DIR)


def backup_name(when: datetime) -> str:
    return f"enclave-{when.astimezone(UTC).strftime(_NAME_TIME)}"


def backup_time(name: str) -> datetime | None:
    match = _NAME.match(name)
    if match is None:
        return None
    return datetime.strptime(match.group(1), _NAME_TIME).replace(tzinfo=UTC)


@contextmanager
def exclusive_lock(root: Path) -> Iterator[None]:
    """One backup, restore drill or retention pass at a time per backup directory."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise BackupBusy() from exc
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class _HashingFile:
    """Counts and hashes what is written through it into `raw`."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self._raw.write(data)


def write_part(
    directory: Path,
    name: str,
    key: bytes,
    produce: Callable[[EncryptingWriter], T],
    *,
    compress: bool = True,
) -> tuple[T, dict[str, Any]]:
    """Write the part `name`: `produce` writes plain bytes to the encrypting stream it gets.

    Returns what `produce` returned and the part's manifest entry (SHA-256 and size of the
    encrypted file as stored, and how many plain bytes went in).
    """
    with (directory / name).open("xb") as raw:
        hashing = _HashingFile(raw)
        writer = EncryptingWriter(hashing, key, compress=compress)  # type: ignore[arg-type]
        result = produce(writer)
        writer.close()
        raw.flush()
        os.fsync(raw.fileno())
    entry = {
        "sha256": hashing.digest.hexdigest(),
        "size": hashing.size,
        "plain_bytes": writer.plain_bytes,
    }
    return result, entry


def write_manifest(directory: Path, key: bytes, manifest: dict[str, Any]) -> None:
    data = json.dumps(manifest, sort_keys=True, indent=1).encode("utf-8")
    write_part(directory, MANIFEST, key, lambda writer: writer.write(data))


def read_manifest(directory: Path, key: bytes) -> dict[str, Any]:
    path = directory / MANIFEST
    if not path.is_file():
        raise BackupNotFound(
            _("%(path)s is not a complete backup (it has no manifest).") % {"path": directory}
        )
    with path.open("rb") as raw:
        data = DecryptingReader(raw, key, name=MANIFEST).read()
    try:
        manifest = json.loads(data)
    except ValueError as exc:
        raise BackupCorrupt(_("The backup's manifest cannot be read.")) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
        raise BackupCorrupt(_("The backup's manifest has an unknown format."))
    return manifest


def verify_parts(directory: Path, manifest: dict[str, Any]) -> None:
    """Refuse a backup any of whose parts is missing, cut short or changed (SHA-256)."""
    for name, entry in sorted(manifest["parts"].items()):
        path = directory / name
        if not path.is_file():
            raise BackupCorrupt(_("Backup part %(name)s is missing.") % {"name": name})
        size = path.stat().st_size
        if size != entry["size"]:
            raise BackupCorrupt(
                _(
                    "Backup part %(name)s is damaged: it has %(found)d bytes, the manifest "
                    "says %(expected)d (truncated or changed)."
                )
                % {"name": name, "found": size, "expected": entry["size"]}
            )
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while block := handle.read(1024 * 1024):
                digest.update(block)
        if digest.hexdigest() != entry["sha256"]:
            raise BackupCorrupt(
                _(
                    "Backup part %(name)s is damaged: its SHA-256 is %(found)s, the manifest "
                    "says %(expected)s."
                )
                % {"name": name, "found": digest.hexdigest(), "expected": entry["sha256"]}
            )


@contextmanager
def open_part(directory: Path, name: str, key: bytes) -> Iterator[DecryptingReader]:
    with (directory / name).open("rb") as raw:
        yield DecryptingReader(raw, key, name=name)


@contextmanager
def partial_directory(root: Path, name: str) -> Iterator[Path]:
    """A directory to write the backup `name` in; renamed to `name` only if the block ends
    normally (after an fsync of the directory), removed otherwise."""
    root.mkdir(parents=True, exist_ok=True)
    partial = root / f".{name}.partial"
    final = root / name
    if final.exists():
        raise BackupError(_("A backup named %(name)s exists already.") % {"name": name})
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    try:
        yield partial
        fsync_directory(partial)
        partial.rename(final)
        fsync_directory(root)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def list_backups(root: Path) -> list[Path]:
    """Complete backups under `root`, oldest first."""
    if not root.is_dir():
        return []
    found = [
        path
        for path in root.iterdir()
        if backup_time(path.name) is not None and (path / MANIFEST).is_file()
    ]
    return sorted(found, key=lambda path: path.name)


def latest_backup(root: Path) -> Path:
    backups = list_backups(root)
    if not backups:
        raise BackupNotFound(_("No complete backup was found in %(path)s.") % {"path": root})
    return backups[-1]


def backups_to_keep(
    times: dict[str, datetime], *, daily: int, weekly: int, monthly: int
) -> set[str]:
    """Grandfather-father-son retention: the newest backup of each of the last `daily` days,
    `weekly` ISO weeks and `monthly` months that have one (UTC). The newest is always kept."""
    newest_first = sorted(times, key=lambda name: times[name], reverse=True)
    keep = set(newest_first[:1])
    for count, period in (
        (daily, lambda t: (t.year, t.month, t.day)),
        (weekly, lambda t: tuple(t.isocalendar()[:2])),
        (monthly, lambda t: (t.year, t.month)),
    ):
        seen: list[Any] = []
        for name in newest_first:
            bucket = period(times[name])
            if bucket in seen:
                continue
            if len(seen) >= count:
                break
            seen.append(bucket)
            keep.add(name)
    return keep


def apply_retention(root: Path) -> list[str]:
    """Delete the complete backups under `root` that retention no longer keeps, and partial
    ones left by an interrupted run (the caller holds the lock: none is being written)."""
    deleted = []
    backups = {path.name: path for path in list_backups(root)}
    times = {name: t for name in backups if (t := backup_time(name)) is not None}
    keep = backups_to_keep(
        times,
        daily=settings.ENCLAVE_BACKUP_KEEP_DAILY,
        weekly=settings.ENCLAVE_BACKUP_KEEP_WEEKLY,
        monthly=settings.ENCLAVE_BACKUP_KEEP_MONTHLY,
    )
    for name, path in sorted(backups.items()):
        if name not in keep:
            shutil.rmtree(path)
            deleted.append(name)
    for path in root.iterdir():
        if path.name.startswith(".enclave-") and path.name.endswith(".partial"):
            shutil.rmtree(path, ignore_errors=True)
    return deleted


def _is_remote(destination: str) -> bool:
    """rsync's remote syntax: host:path, user@host:path, rsync://..."""
    if destination.startswith("rsync://"):
        return True
    head = destination.split("/", 1)[0]
    return ":" in head


def copy_backup(path: Path, destination: str) -> None:
    """Copy the complete backup `path` to a second location (ENCLAVE_BACKUP_COPY_TO).

    A local directory (another disk, an NFS mount) gets the same all-or-nothing rename as the
    original, and the same retention. A remote rsync destination gets the parts first and the
    manifest last, so an interrupted copy is never taken for a complete backup there.
    """
    if _is_remote(destination):
        rsync_copy(path, destination)
    else:
        directory_copy(path, Path(destination))


def directory_copy(path: Path, destination: Path) -> None:
    with partial_directory(destination, path.name) as partial:
        for part in sorted(path.iterdir()):
            with part.open("rb") as source, (partial / part.name).open("xb") as target:
                shutil.copyfileobj(source, target, 1024 * 1024)
                target.flush()
                os.fsync(target.fileno())
    with exclusive_lock(destination):
        apply_retention(destination)


def rsync_copy(path: Path, destination: str) -> None:
    rsync = shutil.which("rsync")
    if rsync is None:
        raise BackupError(_("rsync is not installed (Debian: apt-get install rsync)."))
    target = destination.rstrip("/") + f"/{path.name}/"
    for arguments in (
        ["--exclude", MANIFEST, f"{path}/", target],
        [str(path / MANIFEST), target],
    ):
        with tempfile.TemporaryFile() as stderr:
            result = subprocess.run(  # noqa: S603 - fixed argument list
                [rsync, "--archive", "--mkpath", "--timeout=600", *arguments],
                stderr=stderr,
                stdout=subprocess.DEVNULL,
                check=False,
            )
            if result.returncode != 0:
                stderr.seek(0)
                output = stderr.read()[-2000:].decode("utf-8", "replace").strip()
                raise BackupError(
                    _("rsync to %(target)s failed (exit status %(status)d): %(output)s")
                    % {"target": destination, "status": result.returncode, "output": output}
                )
