"""`manage.py ldap_sync`: run the directory sync now and print what it changed."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from apps.accounts.ldap_sync import (
    DirectoryNotConfigured,
    DirectorySyncRefused,
    DirectoryUnavailable,
    directory_sync,
)


class Command(BaseCommand):
    help = "Sync users from the LDAP/Active Directory directory and print what changed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--allow-mass-deactivation",
            action="store_true",
            help="Deactivate however many people the directory no longer lists (otherwise a "
            "sync that would deactivate more than ENCLAVE_LDAP_SYNC_MAX_DEACTIVATE_PERCENT is "
            "refused and changes nothing).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = directory_sync(allow_mass_deactivation=options["allow_mass_deactivation"])
        except (DirectoryNotConfigured, DirectoryUnavailable, DirectorySyncRefused) as exc:
            raise CommandError(exc.message) from exc
        lines = result.lines()
        for line in lines:
            self.stdout.write(line)
        if not lines:
            self.stdout.write(_("Nothing changed."))
        self.stdout.write(
            self.style.SUCCESS(
                _("Directory sync done: %(c)d created, %(u)d updated, %(d)d deactivated.")
                % {
                    "c": len(result.created),
                    "u": len(result.updated) + len(result.role_changes) + len(result.renamed),
                    "d": len(result.deactivated),
                }
            )
        )
