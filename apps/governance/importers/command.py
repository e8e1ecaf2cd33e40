"""The management commands of the importers: `import_slack` and `import_mattermost`."""

from __future__ import annotations

import json
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.models import User
from apps.core.errors import DomainError
from apps.governance.importers.common import ImportResult


class ImportCommand(BaseCommand):
    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("export", help="The export file.")
        parser.add_argument(
            "--actor", required=True, help="The owner or administrator who imports (audited)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        actor = User.objects.filter(username=options["actor"]).first()
        if actor is None:
            raise CommandError(f"No user {options['actor']!r}.")
        try:
            with open(options["export"], "rb") as source:
                result = self.run_import(source, actor)
        except OSError as error:
            raise CommandError(str(error)) from error
        except DomainError as error:
            raise CommandError(f"{error.code}: {error.message}") from error
        self.stdout.write(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))

    def run_import(self, source: IO[bytes], actor: User) -> ImportResult:
        raise NotImplementedError
