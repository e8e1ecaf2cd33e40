"""`manage.py import_mattermost EXPORT --actor ADMIN`: bring a Mattermost server's people,
channels and history over from its bulk export, a ZIP or a JSONL file
(apps/governance/importers/mattermost.py). Run it again to resume: what was imported is skipped."""

from __future__ import annotations

from typing import IO, Any

from apps.accounts.models import User
from apps.governance.importers.command import ActorFileCommand
from apps.governance.importers.mattermost import mattermost_import


class Command(ActorFileCommand):
    help = "Import a Mattermost bulk export (ZIP or JSONL): people, channels, posts, replies."

    def run(self, file: IO[bytes], actor: User) -> dict[str, Any]:
        return mattermost_import(source=file, actor=actor).as_dict()
