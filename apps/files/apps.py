from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FilesConfig(AppConfig):
    name = "apps.files"
    label = "files"
    verbose_name = _("Files")

    def ready(self) -> None:
        from django.conf import settings
        from PIL import Image

        # Pillow's own decompression-bomb guard, at our limit, for any code path that opens
        # an image (the services also check dimensions before decoding).
        Image.MAX_IMAGE_PIXELS = settings.ENCLAVE_IMAGE_MAX_PIXELS
