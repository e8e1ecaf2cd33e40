"""The management commands that move an organisation in or out (`import_slack`,
`import_mattermost`, `export_organization`): a file, the administrator who acts (audited), and
what was done printed as JSON."""

from __future__ import annotations

import json
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.models import User
from apps.core.errors import DomainError


class ActorFileCommand(BaseCommand):
    # "rb" to read an export; "xb" to write one (never over an existing file).
    file_mode = "rb"
    file_help = "The export file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help=self.file_help)
        parser.add_argument(
            "--actor", required=True, help="The owner or administrator who acts (audited)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        actor = User.objects.filter(username=options["actor"]).first()
        if actor is None:
            raise CommandError(f"No user {options['actor']!r}.")
        try:
            with open(options["file"], self.file_mode) as file:
                done = self.run(file, actor)
        except OSError as error:
            raise CommandError(str(error)) from error
        except DomainError as error:
            raise CommandError(f"{error.code}: {error.message}") from error
        self.stdout.write(json.dumps(done, indent=2, ensure_ascii=False))

    def run(self, file: IO[bytes], actor: User) -> dict[str, Any]:
        raise NotImplementedError
