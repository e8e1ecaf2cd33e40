"""Restore drills: success on a good backup; failure, recorded with its reason, when a table's
checksum or a file differs from the manifest, when a part is damaged, when the key is wrong,
and when the code has migrations the backup lacks. Also retention, the second copy, the
status selector and the scheduled tasks."""

from __future__ import annotations

import hashlib
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone

from apps.ops.backups import archive, database
from apps.ops.backups.crypto import decode_key, generate_key
from apps.ops.backups.selectors import backup_status
from apps.ops.backups.services import backup_create, restore_drill_run
from apps.ops.models import BackupRun, JobStatus, RestoreDrill
from apps.ops.tasks import backup_task, restore_drill_task
from tests.ops.conftest import BackupPlace

pytestmark = pytest.mark.django_db(transaction=True)


def good_backup() -> Path:
    run = backup_create()
    assert run.status == JobStatus.SUCCEEDED, run.error
    return Path(run.path)


def rewrite_manifest(place: BackupPlace, backup: Path, change: Any) -> None:
    """What a bug or an intruder holding the key could do: a different but valid manifest."""
    key = decode_key(place.key)
    manifest = archive.read_manifest(backup, key)
    change(manifest)
    (backup / archive.MANIFEST).unlink()
    archive.write_manifest(backup, key, manifest)


def test_drill_of_a_good_backup_succeeds_and_cleans_up(
    backup_place: BackupPlace, installation: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    backup = good_backup()
    call_command("restore_drill")
    drill = RestoreDrill.objects.get()
    assert drill.status == JobStatus.SUCCEEDED, drill.error
    assert drill.backup_name == backup.name
    assert drill.tables_checked > 20
    assert drill.rows_checked > 10
    assert drill.files_checked == 3
    assert drill.duration_seconds is not None
    assert drill.problems == []
    assert "passed" in capsys.readouterr().out
    assert sorted(p.name for p in backup_place.root.iterdir()) == [".lock", backup.name]
    if connection.vendor == "postgresql":
        drill_db = database.PostgresTarget.configured(f"{connection.settings_dict['NAME']}_drill")
        with drill_db.with_dbname("postgres").connect() as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [drill_db.dbname]
            ).fetchone()
        assert exists is None


def test_drill_fails_when_a_tables_checksum_differs_from_the_manifest(
    backup_place: BackupPlace, installation: dict[str, Any]
) -> None:
    backup = good_backup()

    def tamper(manifest: dict[str, Any]) -> None:
        manifest["database"]["tables"]["chat_message"]["checksum"] = "12345"

    rewrite_manifest(backup_place, backup, tamper)
    drill = restore_drill_run()
    assert drill.status == JobStatus.FAILED
    assert drill.problems == ["table chat_message has a different checksum than the manifest"]
    assert "chat_message" in drill.error


def test_drill_fails_when_a_row_count_or_a_file_differs(
    backup_place: BackupPlace, installation: dict[str, Any]
) -> None:
    backup = good_backup()

    def tamper(manifest: dict[str, Any]) -> None:
        manifest["database"]["tables"]["accounts_user"]["rows"] += 1
        manifest["files"][0]["sha256"] = "0" * 64

    rewrite_manifest(backup_place, backup, tamper)
    drill = restore_drill_run()
    assert drill.status == JobStatus.FAILED
    assert any("accounts_user has 2 rows, the manifest says 3" in p for p in drill.problems)
    assert any(p.startswith("file ") and "differs" in p for p in drill.problems)


def test_drill_fails_when_a_part_is_damaged(
    backup_place: BackupPlace, installation: dict[str, Any]
) -> None:
    backup = good_backup()
    part = backup / "files.tar.enc"
    data = bytearray(part.read_bytes())
    data[-20] ^= 0x10
    part.write_bytes(bytes(data))
    with pytest.raises(CommandError, match=r"files\.tar\.enc is damaged"):
        call_command("restore_drill")
    drill = RestoreDrill.objects.get()
    assert drill.status == JobStatus.FAILED
    assert "files.tar.enc is damaged: its SHA-256" in drill.error


def test_drill_with_a_wrong_key_fails_and_says_so(
    backup_place: BackupPlace, installation: dict[str, Any], settings: Any
) -> None:
    good_backup()
    settings.ENCLAVE_BACKUP_KEY = generate_key()
    drill = restore_drill_run()
    assert drill.status == JobStatus.FAILED
    assert "different key" in drill.error


def test_drill_without_any_backup_fails_and_says_so(backup_place: BackupPlace) -> None:
    drill = restore_drill_run()
    assert drill.status == JobStatus.FAILED
    assert "No complete backup" in drill.error


def test_drill_fails_when_the_code_has_migrations_the_backup_lacks(
    backup_place: BackupPlace, installation: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    good_backup()
    real = MigrationLoader(None, ignore_no_migrations=True).disk_migrations
    future = ("ops", "9999_from_the_future")

    class LoaderWithANewMigration:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.disk_migrations = {**real, future: real[("ops", "0001_initial")]}

    monkeypatch.setattr(database, "MigrationLoader", LoaderWithANewMigration)
    drill = restore_drill_run()
    assert drill.status == JobStatus.FAILED
    assert "ops.9999_from_the_future" in drill.error


def test_migrations_check_accepts_a_squash_or_what_it_replaces() -> None:
    applied = set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)
    assert database.migrations_not_applied(applied) == []
    assert database.migrations_not_applied(applied - {("ops", "0001_initial")}) == [
        "ops.0001_initial"
    ]


# --- retention and the second copy --------------------------------------------------------------


def test_retention_keeps_the_newest_of_each_day_week_and_month() -> None:
    start = datetime(2026, 1, 1, 2, 30, tzinfo=UTC)
    times = {f"b{n:03d}": start + timedelta(days=n) for n in range(120)}  # a backup a day
    times["b119-second"] = times["b119"] + timedelta(hours=3)  # twice on the last day
    keep = archive.backups_to_keep(times, daily=3, weekly=2, monthly=2)
    newest = sorted(times, key=times.__getitem__)[-1]
    assert newest == "b119-second"
    days = {times[name].date() for name in keep}
    assert {times["b118"].date(), times["b117"].date(), times["b119"].date()} <= days
    assert "b119" not in keep  # the older backup of a day that has a newer one
    # The newest of the previous ISO week and of the previous month stay too:
    last_week_end = max(
        n for n in times if times[n].isocalendar()[1] == times[newest].isocalendar()[1] - 1
    )
    assert last_week_end in keep
    assert "b089" in keep  # 2026-03-31, the newest of March
    assert len(keep) == 3 + 1 + 1  # three days, one more week, one more month


def test_retention_deletes_what_it_does_not_keep_and_leftover_partials(
    backup_place: BackupPlace, settings: Any
) -> None:
    settings.ENCLAVE_BACKUP_KEEP_DAILY = 2
    settings.ENCLAVE_BACKUP_KEEP_WEEKLY = 0
    settings.ENCLAVE_BACKUP_KEEP_MONTHLY = 0
    root = backup_place.root
    names = [archive.backup_name(datetime(2026, 3, day, 2, 30, tzinfo=UTC)) for day in (1, 2, 3)]
    for name in names:
        (root / name).mkdir(parents=True)
        (root / name / archive.MANIFEST).write_bytes(b"x")
    (root / f".{names[0]}.partial").mkdir()
    (root / "enclave-unrelated-notes").mkdir()
    assert archive.apply_retention(root) == [names[0]]
    assert sorted(p.name for p in root.iterdir()) == sorted(["enclave-unrelated-notes", *names[1:]])


def test_a_backup_is_copied_whole_to_a_second_directory(
    backup_place: BackupPlace, installation: dict[str, Any], settings: Any, tmp_path: Path
) -> None:
    settings.ENCLAVE_BACKUP_COPY_TO = str(tmp_path / "offsite")
    run = backup_create()
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert run.copied_to == str(tmp_path / "offsite")
    original, copy = Path(run.path), tmp_path / "offsite" / Path(run.path).name
    assert digests(copy) == digests(original)


def test_rsync_copy_sends_every_part_and_the_manifest(
    backup_place: BackupPlace, installation: dict[str, Any], tmp_path: Path
) -> None:
    if shutil.which("rsync") is None:
        pytest.skip("needs rsync (apt-get install rsync)")
    backup = good_backup()
    archive.rsync_copy(backup, str(tmp_path / "remote" / "backups"))
    assert digests(tmp_path / "remote" / "backups" / backup.name) == digests(backup)


def test_a_failed_copy_fails_the_run_but_keeps_the_local_backup(
    backup_place: BackupPlace, installation: dict[str, Any], settings: Any, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the copy's directory should be")
    settings.ENCLAVE_BACKUP_COPY_TO = str(blocker)
    run = backup_create()
    assert run.status == JobStatus.FAILED
    assert "complete here, but its copy to" in run.error
    assert [p.name for p in archive.list_backups(backup_place.root)] == [run.name]


def digests(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in directory.iterdir()}


# --- status for the admin and the metrics ---------------------------------------------------------


def test_backup_status_reports_ages_and_outcomes(db: Any) -> None:
    now = timezone.now()
    empty = backup_status(now=now)
    assert empty.last_backup is None
    assert empty.last_successful_backup_age_seconds is None

    def record(model: Any, hours_ago: float, status: str, error: str = "") -> None:
        finished = now - timedelta(hours=hours_ago)
        model.objects.create(
            started_at=finished - timedelta(minutes=2),
            finished_at=finished,
            duration_seconds=120.0,
            status=status,
            error=error,
        )

    record(BackupRun, 26, JobStatus.SUCCEEDED)
    record(BackupRun, 2, JobStatus.FAILED, "disk full")
    record(RestoreDrill, 1, JobStatus.SUCCEEDED)
    RestoreDrill.objects.create(started_at=now, status=JobStatus.RUNNING)
    status = backup_status(now=now)
    assert status.last_backup is not None
    assert status.last_backup.succeeded is False
    assert status.last_backup.error == "disk full"
    assert status.last_backup.age_seconds == 2 * 3600
    assert status.last_successful_backup_age_seconds == 26 * 3600
    assert status.last_drill is not None
    assert status.last_drill.succeeded is True
    assert status.last_drill.duration_seconds == 120.0
    assert status.last_successful_drill_age_seconds == 3600
    assert status.as_dict()["last_backup"]["error"] == "disk full"


def test_scheduled_tasks_run_the_backup_and_the_drill(
    backup_place: BackupPlace, installation: dict[str, Any], settings: Any
) -> None:
    assert backup_task.delay().get() == JobStatus.SUCCEEDED
    assert restore_drill_task.delay().get() == JobStatus.SUCCEEDED
    assert BackupRun.objects.get().trigger == "schedule"
    assert RestoreDrill.objects.get().trigger == "schedule"
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["ops-backup"]["task"] == backup_task.name
    assert schedule["ops-restore-drill"]["task"] == restore_drill_task.name


@pytest.mark.postgres
def test_a_pre_created_scratch_database_is_emptied_not_created(
    backup_place: BackupPlace, installation: dict[str, Any]
) -> None:
    """The least privilege of a deployed host (enclave_postgresql): the app's role may not
    create databases; it owns `<db>_drill`, which the drill empties before and after."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    from psycopg import sql

    admin = database.PostgresTarget.configured()
    role = f"enclave_drill_role_{uuid.uuid4().hex[:8]}"
    drill_name = f"{connection.settings_dict['NAME']}_drill"
    with admin.with_dbname("postgres").connect() as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOCREATEDB").format(sql.Identifier(role)))
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE template0").format(
                sql.Identifier(drill_name), sql.Identifier(role)
            )
        )
    target = database.PostgresTarget({**admin.params, "user": role, "dbname": drill_name})
    target.params.pop("password", None)
    try:
        with target.connect() as conn:
            conn.execute("CREATE TABLE left_over (id serial PRIMARY KEY)")
        assert database.postgres_scratch_database(target) is False
        with target.connect() as conn:
            assert conn.execute("SELECT to_regclass('left_over')").fetchone() == (None,)
            conn.execute("CREATE TABLE restored (id int)")
        database.postgres_release_scratch_database(target, created=False)
        with target.connect() as conn:  # still there, empty
            assert conn.execute("SELECT to_regclass('restored')").fetchone() == (None,)
        # A whole drill as that role, which could not have created the database.
        good_backup()
        drill_settings = {**connection.settings_dict, "USER": role, "PASSWORD": ""}
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(
                database.PostgresTarget,
                "configured",
                classmethod(
                    lambda cls, dbname=None: cls(
                        {
                            **{k: v for k, v in admin.params.items() if k != "password"},
                            "user": role,
                            "dbname": dbname or str(drill_settings["NAME"]),
                        }
                    )
                ),
            )
            drill = restore_drill_run()
        assert drill.status == JobStatus.SUCCEEDED, drill.error
        # Owned by someone else: refused with a clear reason.
        with admin.with_dbname("postgres").connect() as conn:
            conn.execute(
                sql.SQL("ALTER DATABASE {} OWNER TO CURRENT_USER").format(
                    sql.Identifier(drill_name)
                )
            )
        with pytest.raises(Exception, match="belongs to another role"):
            database.postgres_scratch_database(target)
    finally:
        with admin.with_dbname("postgres").connect() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(drill_name)
                )
            )
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
