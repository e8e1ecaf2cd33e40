"""`manage.py import_slack EXPORT.zip --actor ADMIN`: bring a Slack workspace's people, channels
and history over (apps/governance/importers/slack.py). Run it again to resume or to add a newer
export: what was imported is skipped."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.models import User
from apps.core.errors import DomainError
from apps.governance.importers.slack import slack_import


class Command(BaseCommand):
    help = "Import a Slack workspace export (ZIP): people, channels, messages, threads, reactions."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("export", help="The ZIP file of Slack's export.")
        parser.add_argument(
            "--actor", required=True, help="The owner or administrator who imports (audited)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        actor = User.objects.filter(username=options["actor"]).first()
        if actor is None:
            raise CommandError(f"No user {options['actor']!r}.")
        try:
            with open(options["export"], "rb") as source:
                result = slack_import(source=source, actor=actor)
        except OSError as error:
            raise CommandError(str(error)) from error
        except DomainError as error:
            raise CommandError(f"{error.code}: {error.message}") from error
        self.stdout.write(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
