"""`manage.py assistant_demo`: the demo's assistant (`make demo`): the `assistant` flag on for
everyone and the bot user created, so a newcomer can ask `@assistant` at once. Production
leaves the flag off until an admin turns it on."""

from typing import Any

from django.core.cache import cache
from django.core.management.base import BaseCommand
from waffle import get_waffle_flag_model

from apps.assistant.services import FLAG, assistant_bot


class Command(BaseCommand):
    help = "Turn the assistant on for everyone and create its bot user (demo data)."

    def handle(self, *args: Any, **options: Any) -> None:
        flag, _created = get_waffle_flag_model().objects.get_or_create(name=FLAG)
        if flag.everyone is not True:
            flag.everyone = True
            flag.save()
            cache.clear()  # flags are cached with their members
        bot = assistant_bot()
        self.stdout.write(f"The assistant is on for everyone: ask @{bot.username} in any chat.")
