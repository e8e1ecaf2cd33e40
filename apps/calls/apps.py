from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CallsConfig(AppConfig):
    """Voice and video calls: call sessions, their state machine and WebRTC signalling."""

    name = "apps.calls"
    label = "calls"
    verbose_name = _("Calls")

    def ready(self) -> None:
        from django.core import checks

        from apps.calls.checks import reconnect_window_check
        from apps.calls.operations import OPERATIONS
        from apps.chat.consumers import register_operation

        # The chat consumer owns /ws/; it cannot import us, so our `call.*` operations are
        # registered with it here (docs/architecture/README.md: hooks in AppConfig.ready()).
        for op_type, handler in OPERATIONS.items():
            register_operation(op_type, handler)

        # A member removed from a channel, or a deactivated account, leaves its calls at once.
        from django.db.models.signals import post_delete, post_save

        from apps.accounts.models import User
        from apps.calls import signals
        from apps.chat.models import Membership

        post_delete.connect(signals.membership_deleted, sender=Membership, weak=False)
        post_save.connect(signals.user_saved, sender=User, weak=False)
        checks.register(reconnect_window_check)
