"""`manage.py compliance_exporter USERNAME [--revoke]`: who may export messages for compliance."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.models import User
from apps.governance.compliance_export.services import compliance_exporter_set


class Command(BaseCommand):
    help = (
        "Let a user export messages for compliance (governance.export_compliance), "
        "or with --revoke no longer."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--revoke", action="store_true", help="Take the permission away.")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user {options['username']!r}.")
        changed = compliance_exporter_set(user=user, granted=not options["revoke"])
        state = "no longer" if options["revoke"] else "now"
        if changed:
            self.stdout.write(f"{user.username} may {state} export messages for compliance.")
        else:
            self.stdout.write("Nothing changed.")
