from typing import Any

from django.core.management.base import BaseCommand

from apps.helpdesk.demo import helpdesk_demo_seed


class Command(BaseCommand):
    help = "Turn the help desk on for everyone and create the demo desk (after seed_demo)."

    def handle(self, *args: Any, **options: Any) -> None:
        created = helpdesk_demo_seed()
        self.stdout.write("Demo help desk created." if created else "Demo help desk exists.")
