"""Backups, restores and restore drills: the writes. Commands, tasks and admin call these."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import django
from django.conf import settings
from django.db import connections
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.errors import DomainError
from apps.ops.backups import archive, database, filestore
from apps.ops.backups.crypto import configured_key, key_id
from apps.ops.backups.errors import BackupCorrupt, BackupError
from apps.ops.models import BackupRun, JobStatus, JobTrigger, RestoreDrill

logger = logging.getLogger(__name__)

POSTGRES_PART = "database.pgdump.enc"
SQLITE_PART = "database.sqlite3.enc"
FILES_PART = "files.tar.enc"
PROBLEMS_SHOWN = 20  # in the error text
PROBLEMS_KEPT = 500  # in the drill's record (a whole damaged file store could list millions)


def _engine() -> str:
    vendor = connections["default"].vendor
    if vendor not in ("postgresql", "sqlite"):
        raise BackupError(
            _("Backups support PostgreSQL and SQLite, not %(vendor)s.") % {"vendor": vendor}
        )
    return vendor


def _sqlite_path() -> Path:
    wrapper = connections["default"]
    if wrapper.is_in_memory_db():  # type: ignore[attr-defined]
        raise BackupError(_("An in-memory SQLite database cannot be restored into."))
    return Path(str(wrapper.settings_dict["NAME"]))


# --- backup ---------------------------------------------------------------------------------------


def _write_backup(*, root: Path, key: bytes, started: datetime, run: BackupRun) -> Path:
    engine = _engine()
    name = archive.backup_name(started)
    roots = filestore.configured_roots()
    with archive.partial_directory(root, name) as directory:
        parts: dict[str, Any] = {}
        if engine == "postgresql":
            target = database.PostgresTarget.configured()
            database_part = POSTGRES_PART
            tables, parts[database_part] = archive.write_part(
                directory,
                database_part,
                key,
                lambda out: database.postgres_dump(target=target, out=out),
            )
        else:
            database_part = SQLITE_PART
            tables, parts[database_part] = archive.write_part(
                directory,
                database_part,
                key,
                lambda out: database.sqlite_dump(out=out, workdir=directory),
            )
        # Not compressed: stored files are mostly compressed formats already (images, PDF,
        # office documents), where zlib only costs time: 400 MiB of such data archived at
        # 12 MiB/s with it, 60 MiB/s without (one core of a small VM).
        files, parts[FILES_PART] = archive.write_part(
            directory,
            FILES_PART,
            key,
            lambda out: filestore.archive_roots(out=out, roots=roots, exclude=[root]),
            compress=False,
        )
        manifest = {
            "format": archive.FORMAT_VERSION,
            "name": name,
            "created_at": started.isoformat(),
            "engine": engine,
            "key_id": key_id(key),
            "django": django.get_version(),
            "parts": parts,
            "database": {"part": database_part, "tables": tables},
            "file_roots": sorted(roots),
            "files": files,
        }
        archive.write_manifest(directory, key, manifest)
    run.name = name
    run.path = str(root / name)
    run.engine = engine
    run.database_bytes = parts[database_part]["size"]
    run.files_bytes = parts[FILES_PART]["size"]
    run.size_bytes = sum(path.stat().st_size for path in (root / name).iterdir())
    run.table_count = len(tables)
    run.row_count = sum(table["rows"] for table in tables.values())
    run.file_count = len(files)
    return root / name


def backup_create(*, trigger: str = JobTrigger.MANUAL) -> BackupRun:
    """Take a complete, encrypted backup of the database and the file store, apply retention and
    copy it to ENCLAVE_BACKUP_COPY_TO. Always returns the recorded run: failed, with its reason,
    unless every step succeeded (a backup whose second copy failed is reported failed too)."""
    started = timezone.now()
    clock = time.monotonic()
    run = BackupRun(started_at=started, trigger=trigger)
    root = archive.backup_root()
    try:
        key = configured_key()
        with archive.exclusive_lock(root):
            path = _write_backup(root=root, key=key, started=started, run=run)
            run.deleted_by_retention = archive.apply_retention(root)
        destination = settings.ENCLAVE_BACKUP_COPY_TO
        if destination:
            try:
                archive.copy_backup(path, destination)
            except (DomainError, OSError) as exc:
                raise BackupError(
                    _(
                        "The backup %(name)s is complete here, but its copy to %(target)s failed: "
                        "%(error)s"
                    )
                    % {"name": run.name, "target": destination, "error": _message(exc)}
                ) from exc
            run.copied_to = destination
        run.status = JobStatus.SUCCEEDED
    except Exception as exc:
        run.status = JobStatus.FAILED
        run.error = _message(exc)
        if isinstance(exc, DomainError):
            logger.warning("backup failed: %s", run.error)
        else:
            logger.exception("backup failed")
    run.finished_at = timezone.now()
    run.duration_seconds = round(time.monotonic() - clock, 3)
    run.save()
    return run


def _message(exc: BaseException) -> str:
    if isinstance(exc, DomainError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


# --- restore ------------------------------------------------------------------------------------


@dataclass
class RestoreResult:
    backup: Path
    manifest: dict[str, Any]
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[tuple[str, str], filestore.ExtractedFile] = field(default_factory=dict)
    applied_migrations: set[tuple[str, str]] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(table["rows"] for table in self.tables.values())


def table_problems(expected: dict[str, Any], found: dict[str, Any]) -> list[str]:
    """Differences between the manifest's tables and a restored database's."""
    problems = []
    for table in sorted(set(expected) | set(found)):
        want, got = expected.get(table), found.get(table)
        if got is None:
            problems.append(_("table %(table)s is missing") % {"table": table})
        elif want is None:
            problems.append(_("table %(table)s is not in the manifest") % {"table": table})
        elif want["rows"] != got["rows"]:
            problems.append(
                _("table %(table)s has %(found)d rows, the manifest says %(expected)d")
                % {"table": table, "found": got["rows"], "expected": want["rows"]}
            )
        elif want["checksum"] != got["checksum"]:
            problems.append(
                _("table %(table)s has a different checksum than the manifest") % {"table": table}
            )
    return problems


def _restore_into(
    *,
    backup: Path,
    key: bytes,
    force: bool,
    postgres: database.PostgresTarget | None,
    sqlite_path: Path | None,
    roots: dict[str, Path],
    durable: bool,
) -> RestoreResult:
    manifest = archive.read_manifest(backup, key)
    archive.verify_parts(backup, manifest)
    result = RestoreResult(backup=backup, manifest=manifest)
    engine = manifest["engine"]
    database_part = manifest["database"]["part"]
    with archive.open_part(backup, database_part, key) as reader:
        if engine == "postgresql":
            if postgres is None:
                raise BackupError(
                    _(
                        "This backup is of a PostgreSQL database; configure DATABASE_URL to "
                        "restore it."
                    )
                )
            database.postgres_restore(reader=reader, target=postgres, force=force)
            result.tables = database.postgres_table_sums(postgres)
            result.applied_migrations = database.postgres_applied_migrations(postgres)
        else:
            if sqlite_path is None:
                raise BackupError(
                    _(
                        "This backup is of an SQLite database (the embedded mode); restore it "
                        "without DATABASE_URL."
                    )
                )
            database.sqlite_restore(reader=reader, path=sqlite_path, force=force)
            result.tables = database.sqlite_table_sums(sqlite_path)
            result.applied_migrations = database.sqlite_applied_migrations(sqlite_path)
    missing_roots = set(manifest["file_roots"]) - set(roots)
    if missing_roots:
        raise BackupError(
            _("The backup holds files for %(roots)s, which has no local directory here.")
            % {"roots": ", ".join(sorted(missing_roots))}
        )
    with archive.open_part(backup, FILES_PART, key) as reader:
        result.files = filestore.extract_roots(reader=reader, roots=roots, durable=durable)
        reader.verify_to_end()
    result.problems = table_problems(manifest["database"]["tables"], result.tables)
    result.problems += filestore.file_problems(manifest["files"], result.files)
    return result


def backup_restore(
    *,
    backup: Path | None = None,
    force: bool = False,
    database_name: str | None = None,
    sqlite_path: Path | None = None,
    roots: dict[str, Path] | None = None,
) -> RestoreResult:
    """Rebuild the system from `backup` (default: the latest in ENCLAVE_BACKUP_DIR).

    Refuses a damaged backup (checked against its manifest before anything is written), a wrong
    key, and a non-empty database unless `force`. Restores the database (PostgreSQL: into
    `database_name`, default the configured one; SQLite: to `sqlite_path`, default the
    configured file) and the stored files, then compares every table and file with the
    manifest and raises BackupCorrupt when anything differs.
    """
    key = configured_key()
    backup = backup or archive.latest_backup(archive.backup_root())
    archive.read_manifest(backup, key)  # a wrong key or no backup: refused before anything else
    engine = _engine()
    postgres = database.PostgresTarget.configured(database_name) if engine == "postgresql" else None
    sqlite_target = (sqlite_path or _sqlite_path()) if engine == "sqlite" else None
    if engine == "sqlite" and sqlite_path is None:
        connections.close_all()  # the file is replaced: no connection may keep the old one
    result = _restore_into(
        backup=backup,
        key=key,
        force=force,
        postgres=postgres,
        sqlite_path=sqlite_target,
        roots=roots or filestore.configured_roots(),
        durable=True,
    )
    if result.problems:
        raise BackupCorrupt(
            _("The restored data differs from the backup's manifest: %(problems)s")
            % {"problems": "; ".join(result.problems[:PROBLEMS_SHOWN])}
        )
    return result


# --- restore drill ------------------------------------------------------------------------------


def _drill_database_name() -> str:
    return f"{connections['default'].settings_dict['NAME']}_drill"


def restore_drill_run(*, trigger: str = JobTrigger.MANUAL) -> RestoreDrill:
    """Restore the latest backup into a scratch database and directory, check it against its
    manifest (every table's rows and checksum, every file's SHA-256) and the code's migrations,
    drop the scratch copies, and record the outcome."""
    started = timezone.now()
    clock = time.monotonic()
    drill = RestoreDrill.objects.create(started_at=started, trigger=trigger)
    root = archive.backup_root()
    try:
        key = configured_key()
        with archive.exclusive_lock(root), database.scratch_directory(root, ".drill-") as scratch:
            backup = archive.latest_backup(root)
            drill.backup_name = backup.name
            drill.backup_created_at = archive.backup_time(backup.name)
            engine = _engine()
            postgres = None
            sqlite_path = None
            created = False
            if engine == "postgresql":
                postgres = database.PostgresTarget.configured(_drill_database_name())
                created = database.postgres_scratch_database(postgres)
            else:
                sqlite_path = scratch / "drill.sqlite3"
            try:
                result = _restore_into(
                    backup=backup,
                    key=key,
                    force=False,
                    postgres=postgres,
                    sqlite_path=sqlite_path,
                    roots={label: scratch / label for label in ("files", "media")},
                    durable=False,
                )
            finally:
                if postgres is not None:
                    database.postgres_release_scratch_database(postgres, created=created)
        not_applied = database.migrations_not_applied(result.applied_migrations)
        if not_applied:
            result.problems.append(
                _("migrations of this code not applied in the backup: %(names)s")
                % {"names": ", ".join(not_applied)}
            )
        drill.restored_bytes = sum(
            part["plain_bytes"] for part in result.manifest["parts"].values()
        )
        drill.tables_checked = len(result.tables)
        drill.rows_checked = result.rows
        drill.files_checked = len(result.files)
        drill.problems = result.problems[:PROBLEMS_KEPT]
        if result.problems:
            drill.status = JobStatus.FAILED
            drill.error = "; ".join(result.problems[:PROBLEMS_SHOWN])
            if len(result.problems) > PROBLEMS_SHOWN:
                drill.error += f" (+{len(result.problems) - PROBLEMS_SHOWN})"
        else:
            drill.status = JobStatus.SUCCEEDED
    except Exception as exc:
        drill.status = JobStatus.FAILED
        drill.error = _message(exc)
        if isinstance(exc, DomainError):
            logger.warning("restore drill failed: %s", drill.error)
        else:
            logger.exception("restore drill failed")
    drill.finished_at = timezone.now()
    drill.duration_seconds = round(time.monotonic() - clock, 3)
    drill.save()
    return drill
