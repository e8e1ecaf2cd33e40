"""Read the text of every clean file not yet indexed for the assistant (after an upgrade)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from apps.assistant.file_index import files_text_backfill


class Command(BaseCommand):
    help = "Read the text of clean files (PDF, DOCX, Markdown, text) new to the assistant."

    def handle(self, *args: Any, **options: Any) -> None:
        count = files_text_backfill()
        self.stdout.write(f"{count} files indexed")
