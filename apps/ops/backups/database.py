"""The database part of a backup: dump, restore, and per-table row counts and checksums.

PostgreSQL: pg_dump in its custom format, from a snapshot exported by a REPEATABLE READ
transaction that also counts and checksums every table, so the manifest describes exactly the
rows in the dump. SQLite (the embedded mode): SQLite's online backup API copies a consistent
database file, and the counts are taken from that copy.

A table's checksum is the sum, modulo 2^64 (PostgreSQL: as a numeric, unbounded), of a hash of
each row's text: independent of row order, so a restored table has the same one exactly when it
holds the same rows. Both sides of a comparison always use the same engine's method.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

from django.db import connections
from django.db.migrations.loader import MigrationLoader
from django.utils.translation import gettext as _

from apps.ops.backups.crypto import CHUNK_BYTES, DecryptingReader
from apps.ops.backups.errors import BackupError, RestoreTargetNotEmpty

TableSums = dict[str, dict[str, Any]]

# Session settings under which a row's text is the same on every server and client.
_DETERMINISTIC_SESSION = (
    "SET TimeZone = 'UTC'",
    "SET DateStyle = 'ISO, MDY'",
    "SET IntervalStyle = 'postgres'",
    "SET extra_float_digits = 1",
    "SET bytea_output = 'hex'",
)
_USER_TABLES_SQL = """
    SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND c.relpersistence <> 't'
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp%%'
    ORDER BY 1, 2
"""
_LIBPQ_OPTIONS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "passfile", "service")


@dataclass(frozen=True)
class PostgresTarget:
    """Where to connect: the configured server's credentials, with a database name."""

    params: dict[str, str]

    @classmethod
    def configured(cls, dbname: str | None = None) -> PostgresTarget:
        settings_dict = connections["default"].settings_dict
        params = {
            "dbname": str(settings_dict["NAME"]),
            "user": str(settings_dict.get("USER") or ""),
            "password": str(settings_dict.get("PASSWORD") or ""),
            "host": str(settings_dict.get("HOST") or ""),
            "port": str(settings_dict.get("PORT") or ""),
        }
        options = settings_dict.get("OPTIONS") or {}
        params.update({key: str(options[key]) for key in _LIBPQ_OPTIONS if options.get(key)})
        params = {key: value for key, value in params.items() if value}
        if dbname:
            params["dbname"] = dbname
        return cls(params)

    @property
    def dbname(self) -> str:
        return self.params["dbname"]

    def with_dbname(self, dbname: str) -> PostgresTarget:
        return PostgresTarget({**self.params, "dbname": dbname})

    def env(self) -> dict[str, str]:
        """The environment pg_dump and pg_restore connect with (no password on a command line)."""
        names = {
            "dbname": "PGDATABASE",
            "user": "PGUSER",
            "password": "PGPASSWORD",
            "host": "PGHOST",
            "port": "PGPORT",
            "sslmode": "PGSSLMODE",
            "sslrootcert": "PGSSLROOTCERT",
            "sslcert": "PGSSLCERT",
            "sslkey": "PGSSLKEY",
            "passfile": "PGPASSFILE",
            "service": "PGSERVICE",
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update({names[key]: value for key, value in self.params.items()})
        env["PGAPPNAME"] = "enclave-backup"
        return env

    def connect(self, *, autocommit: bool = True) -> Any:
        import psycopg
        from psycopg.conninfo import make_conninfo

        conninfo = make_conninfo("", **self.params, application_name="enclave-backup")
        return psycopg.connect(conninfo, autocommit=autocommit)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(
            _("%(tool)s is not installed (Debian: apt-get install postgresql-client).")
            % {"tool": name}
        )
    return path


def _tool_failed(tool: str, returncode: int, stderr: IO[bytes]) -> BackupError:
    stderr.seek(0)
    tail = stderr.read()[-2000:].decode("utf-8", "replace").strip()
    return BackupError(
        _("%(tool)s failed (exit status %(status)d): %(output)s")
        % {"tool": tool, "status": returncode, "output": tail}
    )


# --- PostgreSQL ---------------------------------------------------------------------------------


def _postgres_table_sums(cursor: Any) -> TableSums:
    from psycopg import sql

    cursor.execute(_USER_TABLES_SQL)
    sums: TableSums = {}
    for schema, table in cursor.fetchall():
        cursor.execute(
            sql.SQL(
                "SELECT count(*), coalesce(sum(('x' || left(md5(t::text), 16))::bit(64)::bigint),"
                " 0)::text FROM {}.{} AS t"
            ).format(sql.Identifier(schema), sql.Identifier(table))
        )
        rows, checksum = cursor.fetchone()
        name = table if schema == "public" else f"{schema}.{table}"
        sums[name] = {"rows": int(rows), "checksum": checksum}
    return sums


def postgres_table_sums(target: PostgresTarget) -> TableSums:
    """Row counts and checksums of every table of `target`, in one snapshot."""
    with target.connect() as conn, conn.cursor() as cursor:
        for statement in _DETERMINISTIC_SESSION:
            cursor.execute(statement)
        cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            return _postgres_table_sums(cursor)
        finally:
            cursor.execute("ROLLBACK")


def postgres_dump(*, target: PostgresTarget, out: Any) -> TableSums:
    """pg_dump `target` into the stream `out`; returns the table sums of the same snapshot."""
    pg_dump = _tool("pg_dump")
    with target.connect() as conn, conn.cursor() as cursor:
        for statement in _DETERMINISTIC_SESSION:
            cursor.execute(statement)
        # The exported snapshot lives as long as this transaction: pg_dump imports it at its
        # start, and the counts below read the very same rows.
        cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        cursor.execute("SELECT pg_export_snapshot()")
        (snapshot,) = cursor.fetchone()
        sums = _postgres_table_sums(cursor)
        with tempfile.TemporaryFile() as stderr:
            process = subprocess.Popen(  # noqa: S603 - fixed argument list
                [
                    pg_dump,
                    "--format=custom",
                    "--compress=0",
                    f"--snapshot={snapshot}",
                    "--no-password",
                    "--dbname",
                    target.dbname,
                ],
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=target.env(),
            )
            assert process.stdout is not None  # noqa: S101 - Popen(stdout=PIPE) guarantees it
            try:
                while block := process.stdout.read(CHUNK_BYTES):
                    out.write(block)
            finally:
                process.stdout.close()
                returncode = process.wait()
            if returncode != 0:
                raise _tool_failed("pg_dump", returncode, stderr)
        cursor.execute("COMMIT")
    return sums


def postgres_is_empty(target: PostgresTarget) -> bool:
    with target.connect() as conn, conn.cursor() as cursor:
        cursor.execute(_USER_TABLES_SQL)
        return cursor.fetchone() is None


def _postgres_drop_tables(target: PostgresTarget) -> None:
    from psycopg import sql

    with target.connect() as conn, conn.cursor() as cursor:
        cursor.execute(_USER_TABLES_SQL)
        tables = [sql.Identifier(schema, table) for schema, table in cursor.fetchall()]
        if tables:
            cursor.execute(
                sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.SQL(", ").join(tables))
            )


def postgres_restore(*, reader: DecryptingReader, target: PostgresTarget, force: bool) -> None:
    """pg_restore the decrypted dump into `target`, which must be empty unless `force`.

    The dump streams into pg_restore; it restores in one transaction, so a dump found damaged
    half-way leaves no partial data behind.
    """
    pg_restore = _tool("pg_restore")
    if not postgres_is_empty(target):
        if not force:
            raise RestoreTargetNotEmpty()
        _postgres_drop_tables(target)
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(  # noqa: S603 - fixed argument list
            [
                pg_restore,
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--single-transaction",
                "--clean",
                "--if-exists",
                "--no-password",
                "--dbname",
                target.dbname,
            ],
            stdin=subprocess.PIPE,
            stderr=stderr,
            env=target.env(),
        )
        assert process.stdin is not None  # noqa: S101 - Popen(stdin=PIPE) guarantees it
        try:
            while block := reader.read(CHUNK_BYTES):
                process.stdin.write(block)
            process.stdin.close()
        except BrokenPipeError:
            pass  # pg_restore stopped early: its exit status and output say why
        except BaseException:
            process.kill()
            process.wait()
            raise
        returncode = process.wait()
        if returncode != 0:
            raise _tool_failed("pg_restore", returncode, stderr)


def postgres_applied_migrations(target: PostgresTarget) -> set[tuple[str, str]]:
    with target.connect() as conn, conn.cursor() as cursor:
        cursor.execute("SELECT app, name FROM django_migrations")
        return {(app, name) for app, name in cursor.fetchall()}


def postgres_create_database(target: PostgresTarget) -> None:
    """Create `target`'s database (dropped first if left over), through the `postgres` one."""
    from psycopg import sql

    with target.with_dbname("postgres").connect() as conn:
        name = sql.Identifier(target.dbname)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(name))


def postgres_scratch_database(target: PostgresTarget) -> bool:
    """Make `target` an empty database for a restore drill; True if it was created here.

    With the least privilege (docs/operations.md, "Restore drills"): the database exists,
    owned by the app's role, which may neither create databases nor connect to `postgres`;
    everything in it the role owns is dropped (DROP OWNED BY CURRENT_USER: the restored
    tables, sequences, functions and extensions; the database itself stays). Otherwise it is
    created, which needs CREATEDB."""
    import psycopg

    try:
        conn = target.connect()
    except psycopg.OperationalError:
        postgres_create_database(target)  # missing (or refused): created through `postgres`
        return True
    with conn:
        (owned,) = conn.execute(
            "SELECT pg_get_userbyid(datdba) = current_user FROM pg_database"
            " WHERE datname = current_database()"
        ).fetchone()
        if not owned:
            raise BackupError(
                _(
                    "The drill's scratch database %(name)s belongs to another role: make the "
                    "app's role its owner (ALTER DATABASE ... OWNER TO ...) or drop it."
                )
                % {"name": target.dbname}
            )
        conn.execute("DROP OWNED BY CURRENT_USER")
    return False


def postgres_release_scratch_database(target: PostgresTarget, *, created: bool) -> None:
    """After a drill: drop the scratch database it created, or empty the one it was given."""
    if created:
        postgres_drop_database(target)
        return
    with target.connect() as conn:
        conn.execute("DROP OWNED BY CURRENT_USER")


def postgres_drop_database(target: PostgresTarget) -> None:
    from psycopg import sql

    with target.with_dbname("postgres").connect() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(target.dbname))
        )


# --- SQLite -------------------------------------------------------------------------------------


def sqlite_table_sums(path: Path) -> TableSums:
    """Row counts and checksums of every table of the SQLite database file at `path`."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                "ORDER BY name"
            )
        ]
        sums: TableSums = {}
        for table in tables:
            quoted = '"' + table.replace('"', '""') + '"'
            rows = 0
            total = 0
            for row in conn.execute(f"SELECT * FROM {quoted}"):  # noqa: S608 - quoted name
                digest = hashlib.sha256(repr(row).encode("utf-8")).digest()
                total = (total + int.from_bytes(digest[:8], "big")) % (1 << 64)
                rows += 1
            sums[table] = {"rows": rows, "checksum": str(total)}
        return sums
    finally:
        conn.close()


def sqlite_snapshot(path: Path) -> None:
    """Copy the configured SQLite database to `path` with SQLite's online backup API."""
    wrapper = connections["default"]
    wrapper.ensure_connection()
    source = wrapper.connection
    destination = sqlite3.connect(path)
    try:
        source.backup(destination)
    finally:
        destination.close()


def sqlite_dump(*, out: Any, workdir: Path) -> TableSums:
    """Snapshot the SQLite database, take its sums, and stream the copy into `out`."""
    with tempfile.TemporaryDirectory(dir=workdir) as scratch:
        copy = Path(scratch) / "snapshot.sqlite3"
        sqlite_snapshot(copy)
        sums = sqlite_table_sums(copy)
        with copy.open("rb") as handle:
            while block := handle.read(CHUNK_BYTES):
                out.write(block)
    return sums


def sqlite_is_empty(path: Path) -> bool:
    if not path.exists() or path.stat().st_size == 0:
        return True
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return (
            conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            ).fetchone()
            is None
        )
    finally:
        conn.close()


def sqlite_restore(*, reader: DecryptingReader, path: Path, force: bool) -> None:
    """Write the decrypted database file to `path` (temporary name, fsync, rename).

    The server must be stopped: a running process keeps its old file open.
    """
    if not force and not sqlite_is_empty(path):
        raise RestoreTargetNotEmpty()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.restoring")
    try:
        with partial.open("wb") as handle:
            copy_stream(reader, handle)
            handle.flush()
            os.fsync(handle.fileno())
        # The old write-ahead log belongs to the old file; it must not be replayed onto this one.
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        partial.replace(path)
        fsync_directory(path.parent)
    finally:
        partial.unlink(missing_ok=True)


def sqlite_applied_migrations(path: Path) -> set[tuple[str, str]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {
            (app, name) for app, name in conn.execute("SELECT app, name FROM django_migrations")
        }
    finally:
        conn.close()


# --- shared -------------------------------------------------------------------------------------


def copy_stream(reader: Any, writer: BinaryIO) -> int:
    copied = 0
    while block := reader.read(CHUNK_BYTES):
        writer.write(block)
        copied += len(block)
    return copied


def fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def migrations_not_applied(applied: set[tuple[str, str]]) -> list[str]:
    """Migrations of the code that a database's django_migrations does not record.

    A squashed migration counts as applied when everything it replaces is, and a replaced one
    when its squash is.
    """
    disk = MigrationLoader(None, ignore_no_migrations=True).disk_migrations
    squashes_of: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for key, migration in disk.items():
        for replaced in migration.replaces or []:
            squashes_of.setdefault(tuple(replaced), []).append(key)  # type: ignore[arg-type]
    missing = []
    for key, migration in sorted(disk.items()):
        replaces = {tuple(replaced) for replaced in migration.replaces or []}
        if (
            key in applied
            or (replaces and replaces <= applied)
            or any(squash in applied for squash in squashes_of.get(key, []))
        ):
            continue
        missing.append(f"{key[0]}.{key[1]}")
    return missing


@contextmanager
def scratch_directory(parent: Path, prefix: str) -> Iterator[Path]:
    parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
