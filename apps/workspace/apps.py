from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorkspaceConfig(AppConfig):
    """The workplace around chat: default channels, onboarding and the welcome, reminders."""

    name = "apps.workspace"
    label = "workspace"
    verbose_name = _("Workplace")

    def ready(self) -> None:
        # Hooks the lower apps offer (docs/architecture/README.md: hooks in AppConfig.ready()).
        from apps.accounts.invitations import register_invitation_channels
        from apps.accounts.signals import user_onboarded
        from apps.workspace import receivers, remind_command
        from apps.workspace.permissions import InvitationChannelRules

        user_onboarded.connect(receivers.on_user_onboarded, dispatch_uid="workspace.onboarded")
        register_invitation_channels(InvitationChannelRules())
        remind_command.register()
