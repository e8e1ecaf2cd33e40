"""`manage.py rescan_files`: queue a new scan of the stored files (after upgrading the scanner)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from apps.files import services


class Command(BaseCommand):
    help = (
        "Queue a new scan of every live clean or unscannable file (or those uploaded in the last "
        "N days). Run it once after upgrading to limit-reporting scans: an archive an older "
        "clamd passed without reading all of it then ends as failed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days", type=int, default=None, help="Only files uploaded in the last N days."
        )

    def handle(self, *args: Any, days: int | None = None, **options: Any) -> None:
        since = timezone.now() - timedelta(days=days) if days is not None else None
        queued = services.attachments_rescan(uploaded_after=since)
        self.stdout.write(f"{queued} files queued for a new scan.")
