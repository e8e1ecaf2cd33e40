from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GovernanceConfig(AppConfig):
    """Retention policies and legal holds."""

    name = "apps.governance"
    label = "governance"
    verbose_name = _("Governance")

    def ready(self) -> None:
        # Chat cannot import us (docs/architecture/README.md): its deletion asks the check we
        # register whether a message is under a legal hold.
        from apps.chat.holds import register_message_hold_check
        from apps.governance.selectors import message_is_held

        register_message_hold_check(message_is_held)
