"""Development: the embedded default with debugging on."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("ENCLAVE_DEBUG", default=True)
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
