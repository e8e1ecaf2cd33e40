"""Key rotation for the encryption at rest of stored files, and its census.

Rotation without downtime: the operator adds a new key id to ENCLAVE_FILES_ENCRYPTION_KEYS and
makes it the active one; new objects are encrypted under it at once, older ones still read with
their own key id (every object names its key in its header). The re-encryption job then walks
the storage in name order, in batches (`stored_files_reencrypt_batch`, one Celery task each,
`tasks.reencrypt_stored_files`): every object not under the active key gets a fresh data key
wrapped by the active KEK and its content sealed again, and every object stored in the clear
(before encryption was turned on) is encrypted. The content is sealed again rather than only
its data key re-wrapped: whoever held the old KEK could unwrap the old data keys, so only new
data keys make the old KEK worthless. When `stored_files_census()` counts 0 left, the old key
id can be removed.

The job is idempotent (an object already under the active key is only looked at) and resumable
(a batch that dies is redone by its redelivered task; a run started again goes over the done
objects by reading their headers only). An object being rewritten is locked against what
could delete or replace it meanwhile: its StoredBlob row for blobs and thumbnails (the purge
takes it too), its UploadSession row for upload parts.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import FileSystemStorage, Storage
from django.db import transaction
from django.utils.translation import gettext as _

from apps.core.errors import Conflict
from apps.files.audit import FILES_REENCRYPTED, FILES_REENCRYPTION_STARTED, audit_storage_event
from apps.files.encryption import Keyring, StoredFileError, configured_keyring
from apps.files.models import StoredBlob, UploadSession
from apps.files.storage import files_storage, open_stored, replace_stored, stored_header

logger = logging.getLogger(__name__)

PROGRESS_CACHE_KEY = "files:reencryption:progress"
CENSUS_CACHE_KEY = "files:encryption:census"
PROGRESS_CACHE_SECONDS = 30 * 24 * 3600

Outcome = Literal["already", "encrypted", "rewrapped", "unreadable", "gone"]


# --- walking the storage --------------------------------------------------------------------------


def _excluded_directories(storage: Storage) -> set[tuple[str, ...]]:
    """Directories under the files root that are not the files' own: a backup directory an
    operator placed inside it."""
    if not isinstance(storage, FileSystemStorage):
        return set()
    root = Path(storage.location).resolve()
    backups = Path(getattr(settings, "ENCLAVE_BACKUP_DIR", "") or "/nonexistent").resolve()
    if backups.is_relative_to(root) and backups != root:
        return {backups.relative_to(root).parts}
    return set()


def stored_names(*, after: str = "") -> Iterator[str]:
    """Every object name of the files storage in name order (by path component), those after
    `after` only; a resumed walk skips whole directories before the cursor. Names starting
    with a dot (temporary files of a rewrite) are not objects."""
    storage = files_storage()
    cursor = tuple(after.split("/")) if after else ()
    yield from _walk(storage, "", cursor, _excluded_directories(storage))


def _walk(
    storage: Storage, directory: str, cursor: tuple[str, ...], excluded: set[tuple[str, ...]]
) -> Iterator[str]:
    try:
        directories, files = storage.listdir(directory)
    except FileNotFoundError:
        return
    entries = sorted([(name, True) for name in directories] + [(name, False) for name in files])
    for entry, is_directory in entries:
        if entry.startswith("."):
            continue
        path = f"{directory}/{entry}" if directory else entry
        parts = tuple(path.split("/"))
        if is_directory:
            if parts in excluded or (cursor and parts < cursor[: len(parts)]):
                continue
            yield from _walk(storage, path, cursor, excluded)
        elif not cursor or parts > cursor:
            yield path


# --- the census -----------------------------------------------------------------------------------


@dataclass
class EncryptionCensus:
    """What the files storage holds: objects by key id, in the clear, and unreadable."""

    active_key_id: str
    configured_key_ids: tuple[str, ...]
    by_key_id: Counter[str] = field(default_factory=Counter)
    clear: int = 0
    # Headers that cannot be parsed (damaged objects); never counted as done.
    unreadable: int = 0

    @property
    def total(self) -> int:
        return sum(self.by_key_id.values()) + self.clear + self.unreadable

    @property
    def left(self) -> int:
        """Objects the re-encryption job still has to (or cannot) bring under the active key."""
        under_active = self.by_key_id.get(self.active_key_id, 0) if self.active_key_id else 0
        return self.total - under_active

    @property
    def missing_key_ids(self) -> list[str]:
        """Key ids objects are encrypted under that the keyring does not hold."""
        return sorted(set(self.by_key_id) - set(self.configured_key_ids))


def stored_files_census() -> EncryptionCensus:
    """Read every object's header (a few hundred bytes each) and count; the counts are kept for
    the metrics (`encryption_last_census`). A walk of the whole storage: an operator's command
    or the end of a re-encryption run, not a request path."""
    keyring = configured_keyring()
    census = EncryptionCensus(
        active_key_id=keyring.active_key_id if keyring else "",
        configured_key_ids=keyring.key_ids() if keyring else (),
    )
    for name in stored_names():
        try:
            header = stored_header(name)
        except FileNotFoundError:
            continue
        except OSError:
            census.unreadable += 1
            continue
        if header is None:
            census.clear += 1
        else:
            census.by_key_id[header.key_id] += 1
    cache.set(
        CENSUS_CACHE_KEY,
        {
            "at": time.time(),
            "active_key_id": census.active_key_id,
            "by_key_id": dict(census.by_key_id),
            "clear": census.clear,
            "unreadable": census.unreadable,
        },
        PROGRESS_CACHE_SECONDS,
    )
    return census


def encryption_last_census() -> dict[str, Any] | None:
    """The counts of the last census (its time in `at`), for the metrics; None if none ran."""
    value = cache.get(CENSUS_CACHE_KEY)
    return value if isinstance(value, dict) else None


# --- re-encryption --------------------------------------------------------------------------------


@dataclass
class ReencryptionProgress:
    """Counts of one run of the job so far, and where it stands."""

    examined: int = 0
    already: int = 0  # under the active key already
    encrypted: int = 0  # were stored in the clear
    rewrapped: int = 0  # were under another key id
    unreadable: int = 0  # key id not configured, or damaged: left as they are (logged)
    cursor: str = ""
    done: bool = False
    active_key_id: str = ""

    def add(self, outcome: Outcome) -> None:
        self.examined += 1
        if outcome != "gone":
            setattr(self, outcome, getattr(self, outcome) + 1)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _lock_owner(name: str) -> None:
    """Lock the row whose holder may delete or replace `name` while it is rewritten.

    Precondition: inside a transaction."""
    parts = name.split("/")
    if parts[0] == "blobs":
        StoredBlob.objects.select_for_update().filter(sha256=parts[-1]).first()
    elif parts[0] == "thumbnails":
        sha256 = parts[-1].split("-", 1)[0]
        StoredBlob.objects.select_for_update().filter(sha256=sha256).first()
    elif parts[0] == "uploads" and len(parts) == 3:
        session_id = _uuid_or_none(parts[1])
        if session_id is not None:
            UploadSession.objects.select_for_update().filter(pk=session_id).first()


def _uuid_or_none(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def _reencrypt_one(name: str, keyring: Keyring) -> Outcome:
    storage = files_storage()
    with transaction.atomic():
        _lock_owner(name)
        if not storage.exists(name):
            return "gone"
        try:
            header = stored_header(name)
            if header is not None and header.key_id == keyring.active_key_id:
                return "already"
            with open_stored(name) as plaintext:
                replace_stored(name, plaintext)
        except FileNotFoundError:
            return "gone"
        except StoredFileError as error:
            logger.error("re-encryption skipped %s: %s", name, error)
            return "unreadable"
    return "encrypted" if header is None else "rewrapped"


def stored_files_reencrypt_batch(
    *, after: str = "", limit: int, progress: ReencryptionProgress | None = None
) -> ReencryptionProgress:
    """Bring up to `limit` objects after the name `after` under the active key; returns the
    run's progress (`progress` plus this batch), `done` once the walk reached the end.

    The first batch of a run (no cursor) and the last one are audited; the progress is kept
    where `manage.py files_encryption status` shows it.
    """
    keyring = configured_keyring()
    if keyring is None:
        raise Conflict(
            _("File encryption is off: configure ENCLAVE_FILES_ENCRYPTION_KEYS first."),
            code="encryption_off",
        )
    progress = progress or ReencryptionProgress()
    progress.active_key_id = keyring.active_key_id
    if not after and progress.examined == 0:
        audit_storage_event(
            FILES_REENCRYPTION_STARTED,
            active_key_id=keyring.active_key_id,
            key_ids=list(keyring.key_ids()),
        )
    names = stored_names(after=after)
    done = True
    for count, name in enumerate(names, start=1):
        progress.add(_reencrypt_one(name, keyring))
        progress.cursor = name
        if count >= limit:
            done = next(names, None) is None
            break
    progress.done = done
    cache.set(PROGRESS_CACHE_KEY, progress.as_dict(), PROGRESS_CACHE_SECONDS)
    if done:
        audit_storage_event(
            FILES_REENCRYPTED,
            active_key_id=keyring.active_key_id,
            examined=progress.examined,
            encrypted=progress.encrypted,
            rewrapped=progress.rewrapped,
            already=progress.already,
            unreadable=progress.unreadable,
        )
        logger.info("re-encryption finished: %s", progress.as_dict())
    return progress


def reencryption_last_progress() -> dict[str, Any] | None:
    """The progress of the latest run (foreground or background), if one ran recently."""
    value = cache.get(PROGRESS_CACHE_KEY)
    return value if isinstance(value, dict) else None
