"""`manage.py erase_personal_data USERNAME [--delete-messages]`: erase a departed employee's
personal data (apps/governance/erasure.py); their messages stay unless --delete-messages."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.models import User
from apps.core.errors import DomainError
from apps.governance.erasure import personal_data_erase


class Command(BaseCommand):
    help = (
        "Erase a departed employee's personal data: deactivate the account, replace the name "
        "and contact details with neutral values, remove avatar, tokens, sessions, second "
        "factors, directory link, status, saved items and reminders. Messages are kept unless "
        "--delete-messages (refused under a legal hold)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--delete-messages",
            action="store_true",
            help="Also delete their messages (refused when a legal hold keeps them).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user {options['username']!r}.")
        try:
            erasure = personal_data_erase(
                actor=None, user_id=user.pk, delete_messages=options["delete_messages"]
            )
        except DomainError as error:
            raise CommandError(f"{error.message} ({error.code})") from error
        self.stdout.write(
            f"Erased user {erasure.user_id}: now {erasure.label!r}; "
            f"{erasure.messages_deleted} messages deleted, {erasure.messages_kept} kept."
        )
