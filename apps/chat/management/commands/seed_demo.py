from typing import Any

from django.core.management.base import BaseCommand

from apps.chat.demo import DEMO_PASSWORD, demo_company_seed

# Features behind a flag that the demo shows to everyone (production default: off).
DEMO_FLAGS = (
    "workplace_inbox",
    "workplace_reminders",
    "status_dnd",
    "pins_saved",
    "email_digests",
    "dark_mode",
    "data_export",
)


class Command(BaseCommand):
    help = "Load the demo company (idempotent) and print the demo logins."

    def handle(self, *args: Any, **options: Any) -> None:
        result = demo_company_seed()
        from waffle import get_waffle_flag_model

        for name in DEMO_FLAGS:
            get_waffle_flag_model().objects.update_or_create(name=name, defaults={"everyone": True})
        verb = "Loaded" if result.created else "Found"
        self.stdout.write(f"{verb} the demo company. Logins (password: {DEMO_PASSWORD}):")
        for username, role in result.users:
            self.stdout.write(f"  {username:<10} {role}")
