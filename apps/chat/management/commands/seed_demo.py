from typing import Any

from django.core.management.base import BaseCommand

from apps.chat.demo import DEMO_PASSWORD, demo_company_seed


class Command(BaseCommand):
    help = "Load the demo company (idempotent) and print the demo logins."

    def handle(self, *args: Any, **options: Any) -> None:
        result = demo_company_seed()
        verb = "Loaded" if result.created else "Found"
        self.stdout.write(f"{verb} the demo company. Logins (password: {DEMO_PASSWORD}):")
        for username, role in result.users:
            self.stdout.write(f"  {username:<10} {role}")
