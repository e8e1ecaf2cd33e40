from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChatConfig(AppConfig):
    name = "apps.chat"
    label = "chat"
    verbose_name = _("Chat")

    def ready(self) -> None:
        # Hooks the lower apps offer: the directory sync's group -> channel mapping.
        from apps.accounts.signals import directory_channel_members_wanted
        from apps.chat.directory import directory_channel_members_add

        directory_channel_members_wanted.connect(
            directory_channel_members_add, dispatch_uid="chat.directory_channel_members_add"
        )
