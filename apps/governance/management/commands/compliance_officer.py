"""`manage.py compliance_officer USERNAME [--revoke]`: who may place and release legal holds."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.models import User
from apps.governance.services import compliance_officer_set


class Command(BaseCommand):
    help = "Make a user a compliance officer (legal holds), or with --revoke no longer one."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--revoke", action="store_true", help="Take the permission away.")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user {options['username']!r}.")
        changed = compliance_officer_set(user=user, granted=not options["revoke"])
        state = "no longer" if options["revoke"] else "now"
        if changed:
            self.stdout.write(f"{user.username} is {state} a compliance officer.")
        else:
            self.stdout.write("Nothing changed.")
