"""`manage.py restore_drill`: restore the latest backup into scratch copies and check it now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from apps.ops.backups.services import restore_drill_run
from apps.ops.models import JobStatus, JobTrigger


class Command(BaseCommand):
    help = (
        "Restore the latest backup into a scratch database and directory, compare every table "
        "and file with its manifest, check the migrations, drop the scratch copies and record "
        "the result (the same service as the scheduled drill)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        drill = restore_drill_run(trigger=JobTrigger.MANUAL)
        if drill.status != JobStatus.SUCCEEDED:
            raise CommandError(_("Restore drill failed: %(error)s") % {"error": drill.error})
        self.stdout.write(
            self.style.SUCCESS(
                _(
                    "Restore drill of %(name)s passed: %(tables)d tables, %(rows)d rows and "
                    "%(files)d files match the manifest, %(seconds).1f s."
                )
                % {
                    "name": drill.backup_name,
                    "tables": drill.tables_checked,
                    "rows": drill.rows_checked,
                    "files": drill.files_checked,
                    "seconds": drill.duration_seconds or 0.0,
                }
            )
        )
