from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext_lazy as _


class AssistantConfig(AppConfig):
    """The AI assistant: `@assistant` answers from what the asker may read."""

    name = "apps.assistant"
    label = "assistant"
    verbose_name = _("Assistant")

    def ready(self) -> None:
        from apps.assistant.file_listener import on_attachment_saved
        from apps.assistant.listener import on_new_message
        from apps.assistant.operations import OPERATIONS
        from apps.chat.consumers import register_operation
        from apps.chat.hooks import register_new_message_listener

        # Chat cannot import us: it calls our listener for each new message (a set lookup,
        # then a task after commit) and runs our `assistant.*` WebSocket operations.
        register_new_message_listener(on_new_message)
        for op_type, handler in OPERATIONS.items():
            register_operation(op_type, handler)
        post_delete.connect(_forget_a_deleted_bot, sender=settings.AUTH_USER_MODEL)
        # A file scanned clean has its text read for the assistant; one that stops being clean
        # loses it (files cannot import us: we listen to its model's saves).
        post_save.connect(
            on_attachment_saved, sender="files.Attachment", dispatch_uid="assistant-file-text"
        )


def _forget_a_deleted_bot(sender: object, instance: object, **kwargs: object) -> None:
    """An admin who deletes the bot user: this process stops naming that id as the bot's (the
    next `@assistant` creates a new bot)."""
    from apps.assistant import services

    if getattr(instance, "is_bot", False):
        services.forget_bot_id(deleted_user_id=getattr(instance, "pk", None))
