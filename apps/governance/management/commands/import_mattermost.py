"""`manage.py import_mattermost EXPORT --actor ADMIN`: bring a Mattermost server's people,
channels and history over from its bulk export, a ZIP or a JSONL file
(apps/governance/importers/mattermost.py). Run it again to resume: what was imported is skipped."""

from __future__ import annotations

from typing import IO

from apps.accounts.models import User
from apps.governance.importers.command import ImportCommand
from apps.governance.importers.common import ImportResult
from apps.governance.importers.mattermost import mattermost_import


class Command(ImportCommand):
    help = "Import a Mattermost bulk export (ZIP or JSONL): people, channels, posts, replies."

    def run_import(self, source: IO[bytes], actor: User) -> ImportResult:
        return mattermost_import(source=source, actor=actor)
