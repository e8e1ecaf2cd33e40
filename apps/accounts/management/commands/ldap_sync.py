"""`manage.py ldap_sync`: run the directory sync now and print what it changed."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from apps.accounts.ldap_sync import DirectoryNotConfigured, DirectoryUnavailable, directory_sync


class Command(BaseCommand):
    help = "Sync users from the LDAP/Active Directory directory and print what changed."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = directory_sync()
        except (DirectoryNotConfigured, DirectoryUnavailable) as exc:
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
                    "u": len(result.updated) + len(result.role_changes),
                    "d": len(result.deactivated),
                }
            )
        )
