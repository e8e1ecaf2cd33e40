"""`manage.py backup`: take an encrypted backup now (the same service as the scheduled job)."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

from apps.ops.backups.crypto import generate_key
from apps.ops.backups.services import backup_create
from apps.ops.models import JobStatus, JobTrigger


class Command(BaseCommand):
    help = (
        "Back up the database and the file store, encrypted with ENCLAVE_BACKUP_KEY, into "
        "ENCLAVE_BACKUP_DIR (then retention, then the copy to ENCLAVE_BACKUP_COPY_TO)."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--generate-key",
            action="store_true",
            help="Print a new random key for ENCLAVE_BACKUP_KEY and exit.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["generate_key"]:
            self.stdout.write(generate_key())
            return
        run = backup_create(trigger=JobTrigger.MANUAL)
        if run.status != JobStatus.SUCCEEDED:
            raise CommandError(_("Backup failed: %(error)s") % {"error": run.error})
        self.stdout.write(
            self.style.SUCCESS(
                _(
                    "Backup %(path)s: %(size)s, %(tables)d tables, %(rows)d rows, "
                    "%(files)d files, %(seconds).1f s."
                )
                % {
                    "path": run.path,
                    "size": filesizeformat(run.size_bytes),
                    "tables": run.table_count,
                    "rows": run.row_count,
                    "files": run.file_count,
                    "seconds": run.duration_seconds or 0.0,
                }
            )
        )
        if run.copied_to:
            self.stdout.write(_("Copied to %(target)s.") % {"target": run.copied_to})
