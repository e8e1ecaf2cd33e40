"""`manage.py import_slack EXPORT.zip --actor ADMIN`: bring a Slack workspace's people, channels
and history over (apps/governance/importers/slack.py). Run it again to resume or to add a newer
export: what was imported is skipped."""

from __future__ import annotations

from typing import IO, Any

from apps.accounts.models import User
from apps.governance.importers.command import ActorFileCommand
from apps.governance.importers.slack import slack_import


class Command(ActorFileCommand):
    help = "Import a Slack workspace export (ZIP): people, channels, messages, threads, reactions."

    def run(self, file: IO[bytes], actor: User) -> dict[str, Any]:
        return slack_import(source=file, actor=actor).as_dict()
