"""`manage.py restore [BACKUP]`: rebuild an empty system from a backup (stop Enclave first)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from apps.core.errors import DomainError
from apps.ops.backups import archive
from apps.ops.backups.database import migrations_not_applied
from apps.ops.backups.services import backup_restore


class Command(BaseCommand):
    help = (
        "Restore the database and the stored files from a backup (default: the latest in "
        "ENCLAVE_BACKUP_DIR). Refuses a damaged backup, a wrong ENCLAVE_BACKUP_KEY and a "
        "non-empty database (unless --force). Stop Enclave's processes first."
    )
    # The database may be empty or about to be replaced: nothing may query it first.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "backup",
            nargs="?",
            help="A backup directory, or its name under ENCLAVE_BACKUP_DIR (default: the latest).",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Replace the contents of a database that is not empty.",
        )
        parser.add_argument(
            "--database-name",
            help="PostgreSQL: restore into this database of the configured server instead.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        backup = None
        if options["backup"]:
            backup = Path(options["backup"])
            if not backup.is_dir():
                backup = archive.backup_root() / options["backup"]
        try:
            result = backup_restore(
                backup=backup, force=options["force"], database_name=options["database_name"]
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            self.style.SUCCESS(
                _(
                    "Restored %(name)s: %(tables)d tables, %(rows)d rows and %(files)d files, "
                    "all identical to the backup's manifest."
                )
                % {
                    "name": result.backup.name,
                    "tables": len(result.tables),
                    "rows": result.rows,
                    "files": len(result.files),
                }
            )
        )
        not_applied = migrations_not_applied(result.applied_migrations)
        if not_applied:
            self.stdout.write(
                _("The backup predates %(count)d migrations of this code: run `manage.py migrate`.")
                % {"count": len(not_applied)}
            )
