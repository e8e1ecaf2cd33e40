"""Backup -> wipe -> restore gives back every row and every file; damage and wrong keys are
refused with a clear message; a failed backup never looks like a good one.

Backups read committed data (pg_dump has its own connection), hence transactional tests.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from apps.ops.backups import archive, database, filestore
from apps.ops.backups.crypto import generate_key
from apps.ops.backups.errors import BackupCorrupt, BackupKeyMismatch, RestoreTargetNotEmpty
from apps.ops.backups.services import backup_create, backup_restore
from apps.ops.models import BackupRun, JobStatus
from tests.ops.conftest import BackupPlace, tree_digests

pytestmark = pytest.mark.django_db(transaction=True)


def good_backup() -> Path:
    run = backup_create()
    assert run.status == JobStatus.SUCCEEDED, run.error
    return Path(run.path)


def postgres_rows(target: database.PostgresTarget) -> dict[str, list[str]]:
    """Every row of every table, as PostgreSQL's row text, sorted: the literal contents."""
    from psycopg import sql

    with target.connect() as conn, conn.cursor() as cursor:
        cursor.execute("SET TimeZone = 'UTC'")
        cursor.execute(database._USER_TABLES_SQL)
        tables = cursor.fetchall()
        rows = {}
        for schema, table in tables:
            cursor.execute(
                sql.SQL("SELECT t::text FROM {}.{} AS t").format(
                    sql.Identifier(schema), sql.Identifier(table)
                )
            )
            rows[f"{schema}.{table}"] = sorted(text for (text,) in cursor.fetchall())
        return rows


def sqlite_rows(conn: Any) -> dict[str, list[str]]:
    tables = [
        name
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
    ]
    return {
        table: sorted(repr(row) for row in conn.execute(f'SELECT * FROM "{table}"').fetchall())  # noqa: S608
        for table in tables
    }


def source_sqlite_rows() -> dict[str, list[str]]:
    """The test database's rows, read as plain SQLite values (no Django type converters)."""
    conn = sqlite3.connect(str(connection.settings_dict["NAME"]), uri=True)
    try:
        return sqlite_rows(conn)
    finally:
        conn.close()


def require_vendor(vendor: str) -> None:
    if connection.vendor != vendor:
        pytest.skip(f"runs in the {vendor} pass of the suite")


# --- the whole round trip -----------------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_backup_wipe_restore_gives_back_every_row_and_file(
    backup_place: BackupPlace, installation: dict[str, Any], restore_database: Any
) -> None:
    source = database.PostgresTarget.configured()
    rows_before = postgres_rows(source)
    files_before = tree_digests(backup_place.files, backup_place.media)
    assert any(name.startswith("files/blobs/") for name in files_before)
    assert "media/avatars/alice.png" in files_before
    backup = good_backup()

    shutil.rmtree(backup_place.files)  # the wipe: the file store is gone
    shutil.rmtree(backup_place.media)
    result = backup_restore(backup=backup, database_name=restore_database.dbname)

    assert postgres_rows(restore_database) == rows_before
    assert rows_before["public.chat_message"]  # the comparison covered real data
    assert tree_digests(backup_place.files, backup_place.media) == files_before
    assert database.postgres_table_sums(restore_database) == result.manifest["database"]["tables"]
    assert result.rows == sum(len(rows) for rows in rows_before.values())
    assert len(result.files) == len(files_before)


@pytest.mark.postgres
def test_postgres_manifest_counts_match_the_dump_exactly(
    backup_place: BackupPlace, installation: dict[str, Any], restore_database: Any
) -> None:
    backup = good_backup()
    manifest = archive.read_manifest(backup, _key(backup_place))
    backup_restore(backup=backup, database_name=restore_database.dbname)
    assert database.postgres_table_sums(restore_database) == manifest["database"]["tables"]
    assert manifest["database"]["tables"]["accounts_user"]["rows"] == 2


@pytest.mark.postgres
def test_restore_refuses_a_database_that_is_not_empty_unless_forced(
    backup_place: BackupPlace, installation: dict[str, Any], restore_database: Any
) -> None:
    rows_before = postgres_rows(database.PostgresTarget.configured())
    backup = good_backup()
    backup_restore(backup=backup, database_name=restore_database.dbname)
    with pytest.raises(RestoreTargetNotEmpty, match="not empty"):
        backup_restore(backup=backup, database_name=restore_database.dbname)
    with pytest.raises(CommandError, match="not empty"):
        call_command("restore", str(backup), "--database-name", restore_database.dbname)
    call_command("restore", backup.name, "--database-name", restore_database.dbname, "--force")
    assert postgres_rows(restore_database) == rows_before


def test_sqlite_backup_wipe_restore_gives_back_every_row_and_file(
    backup_place: BackupPlace, installation: dict[str, Any], tmp_path: Path
) -> None:
    require_vendor("sqlite")
    rows_before = source_sqlite_rows()
    files_before = tree_digests(backup_place.files, backup_place.media)
    backup = good_backup()

    shutil.rmtree(backup_place.files)
    shutil.rmtree(backup_place.media)
    restored = tmp_path / "restored" / "enclave.sqlite3"
    result = backup_restore(backup=backup, sqlite_path=restored)

    with sqlite3.connect(restored) as conn:
        assert sqlite_rows(conn) == rows_before
    assert rows_before["chat_message"]
    assert tree_digests(backup_place.files, backup_place.media) == files_before
    assert result.rows == sum(len(rows) for rows in rows_before.values())


def test_sqlite_restore_refuses_a_database_file_that_is_not_empty_unless_forced(
    backup_place: BackupPlace, installation: dict[str, Any], tmp_path: Path
) -> None:
    require_vendor("sqlite")
    rows_before = source_sqlite_rows()
    backup = good_backup()
    restored = tmp_path / "enclave.sqlite3"
    with sqlite3.connect(restored) as conn:
        conn.execute("CREATE TABLE leftover (id integer)")
    with pytest.raises(RestoreTargetNotEmpty):
        backup_restore(backup=backup, sqlite_path=restored)
    backup_restore(backup=backup, sqlite_path=restored, force=True)
    with sqlite3.connect(restored) as conn:
        assert sqlite_rows(conn) == rows_before


# --- refusals -------------------------------------------------------------------------------------


def _key(place: BackupPlace) -> bytes:
    from apps.ops.backups.crypto import decode_key

    return decode_key(place.key)


def database_part(backup: Path) -> Path:
    return next(backup.glob("database.*.enc"))


def test_a_corrupted_part_is_refused_before_anything_is_restored(
    backup_place: BackupPlace, installation: dict[str, Any], tmp_path: Path
) -> None:
    backup = good_backup()
    part = database_part(backup)
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF
    part.write_bytes(bytes(data))
    target = {"files": tmp_path / "files", "media": tmp_path / "media"}
    with pytest.raises(BackupCorrupt, match=rf"{part.name} is damaged: its SHA-256 is"):
        backup_restore(
            backup=backup,
            database_name="enclave_backup_never_created",
            sqlite_path=tmp_path / "never.sqlite3",
            roots=target,
        )
    assert not (tmp_path / "never.sqlite3").exists()
    assert not target["files"].exists()


def test_a_truncated_part_is_refused_with_its_size(
    backup_place: BackupPlace, installation: dict[str, Any], tmp_path: Path
) -> None:
    backup = good_backup()
    part = backup / "files.tar.enc"
    size = part.stat().st_size
    with part.open("r+b") as handle:
        handle.truncate(size - 1000)
    with pytest.raises(
        BackupCorrupt, match=rf"files.tar.enc is damaged: it has {size - 1000} bytes"
    ):
        backup_restore(backup=backup, sqlite_path=tmp_path / "x.sqlite3", roots={})


def test_a_part_changed_together_with_its_manifest_entry_fails_authentication(
    backup_place: BackupPlace,
    installation: dict[str, Any],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """Someone (or something) who rewrote the manifest too is still caught, by GCM, and the
    restore stops without leaving a partial database."""
    import hashlib

    backup = good_backup()
    key = _key(backup_place)
    manifest = archive.read_manifest(backup, key)
    part = database_part(backup)
    data = bytearray(part.read_bytes())
    data[100] ^= 0x01
    part.write_bytes(bytes(data))
    manifest["parts"][part.name]["sha256"] = hashlib.sha256(bytes(data)).hexdigest()
    (backup / archive.MANIFEST).unlink()
    archive.write_manifest(backup, key, manifest)
    postgres = (
        request.getfixturevalue("restore_database") if connection.vendor == "postgresql" else None
    )
    with pytest.raises(BackupCorrupt, match=rf"{part.name} is damaged: record 0 fails"):
        backup_restore(
            backup=backup,
            database_name=postgres.dbname if postgres else None,
            sqlite_path=tmp_path / "restored.sqlite3",
            roots={"files": tmp_path / "files", "media": tmp_path / "media"},
        )
    if postgres is not None:
        assert database.postgres_is_empty(postgres)
    assert not (tmp_path / "restored.sqlite3").exists()


def test_a_wrong_key_is_refused_clearly(
    backup_place: BackupPlace, installation: dict[str, Any], settings: Any, tmp_path: Path
) -> None:
    backup = good_backup()
    settings.ENCLAVE_BACKUP_KEY = generate_key()
    with pytest.raises(BackupKeyMismatch, match="encrypted with a different key"):
        backup_restore(backup=backup, sqlite_path=tmp_path / "x.sqlite3", roots={})
    with pytest.raises(CommandError, match="different key"):
        call_command("restore", str(backup))


def test_an_unsafe_name_in_the_file_archive_is_refused(tmp_path: Path) -> None:
    import io
    import tarfile

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("files/../../escaped")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    raw.seek(0)
    with pytest.raises(BackupCorrupt, match="unsafe name"):
        filestore.extract_roots(reader=raw, roots={"files": tmp_path / "files"})
    assert not (tmp_path.parent / "escaped").exists()


# --- a failed backup is never reported as good ----------------------------------------------------


def test_a_backup_without_a_key_fails_and_says_why(
    backup_place: BackupPlace, settings: Any
) -> None:
    settings.ENCLAVE_BACKUP_KEY = ""
    run = backup_create()
    assert run.status == JobStatus.FAILED
    assert "ENCLAVE_BACKUP_KEY is not set" in run.error
    assert archive.list_backups(backup_place.root) == []
    with pytest.raises(CommandError, match="ENCLAVE_BACKUP_KEY is not set"):
        call_command("backup")


def test_a_backup_that_fails_half_way_leaves_nothing_that_looks_complete(
    backup_place: BackupPlace, installation: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(**kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(filestore, "archive_roots", disk_full)
    run = backup_create()
    assert run.status == JobStatus.FAILED
    assert "No space left on device" in run.error
    assert run.finished_at is not None
    assert run.duration_seconds is not None
    assert archive.list_backups(backup_place.root) == []
    assert [p.name for p in backup_place.root.iterdir()] == [".lock"]
    assert BackupRun.objects.get().status == JobStatus.FAILED


def test_backup_command_reports_what_it_wrote(
    backup_place: BackupPlace, installation: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("backup")
    out = capsys.readouterr().out
    (backup,) = archive.list_backups(backup_place.root)
    assert str(backup) in out
    run = BackupRun.objects.get()
    assert run.status == JobStatus.SUCCEEDED
    assert run.file_count == 3  # two blobs and the avatar (thumbnails: none for these files)
    assert run.size_bytes == sum(p.stat().st_size for p in backup.iterdir())
