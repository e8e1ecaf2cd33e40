from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntegrationsConfig(AppConfig):
    """Bots, incoming and outgoing webhooks, slash commands, polls, buttons, link previews."""

    name = "apps.integrations"
    label = "integrations"
    verbose_name = _("Integrations")

    def ready(self) -> None:
        from apps.integrations import hooks

        hooks.install()
