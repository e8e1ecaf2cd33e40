import logging

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FilesConfig(AppConfig):
    name = "apps.files"
    label = "files"
    verbose_name = _("Files")

    def ready(self) -> None:
        from celery.signals import worker_ready
        from django.conf import settings
        from django.core import checks
        from PIL import Image

        from apps.chat.attachments import register_attachment_store
        from apps.files.chat_attachments import FilesAttachmentStore
        from apps.files.checks import encryption_settings_check
        from apps.files.encryption import configured_keyring
        from apps.files.scanner import scanner_status_at_worker_start

        # Messages carry our files; chat cannot import us, so it calls what we register.
        register_attachment_store(FilesAttachmentStore())

        # A worker says at start whether its clamd reports exceeded limits (else nothing it
        # scans becomes clean); every scan checks again (cached briefly).
        worker_ready.connect(scanner_status_at_worker_start, weak=False)

        # Pillow's own decompression-bomb guard, at our limit, for any code path that opens
        # an image (the services also check dimensions before decoding).
        Image.MAX_IMAGE_PIXELS = settings.ENCLAVE_IMAGE_MAX_PIXELS

        # A malformed key list or an active id without its key stops every process at start
        # (ImproperlyConfigured), not the first upload or download.
        configured_keyring()
        checks.register(encryption_settings_check)
        for warning in encryption_settings_check():
            logging.getLogger(__name__).warning("%s (%s)", warning.msg, warning.id)
