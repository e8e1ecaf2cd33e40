"""Production: same code as base; values from the environment and secure defaults."""

from apps.ops.logs import logging_config

from .base import *  # noqa: F403
from .base import ENCLAVE_LOG_LEVEL, ENCLAVE_LOG_MESSAGE_TRAIL, ENCLAVE_LOG_REQUESTS, env

SECRET_KEY = env.str("SECRET_KEY")  # no default: refuse to start without one
DEBUG = False
ALLOWED_HOSTS = env.list("ENCLAVE_ALLOWED_HOSTS")
ENCLAVE_SERVE_STATIC = env.bool("ENCLAVE_SERVE_STATIC", default=False)

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("ENCLAVE_SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("ENCLAVE_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("ENCLAVE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("ENCLAVE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# The SMTP server's address, port, account and TLS are read in base.py (ENCLAVE_EMAIL_*).
EMAIL_BACKEND = env.str(
    "ENCLAVE_EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend"
)

# JSON lines for the log shipper (deploy/logging/); ENCLAVE_LOG_FORMAT=text for a terminal.
ENCLAVE_LOG_FORMAT = env.str("ENCLAVE_LOG_FORMAT", default="json")
LOGGING = logging_config(
    log_format=ENCLAVE_LOG_FORMAT,
    level=ENCLAVE_LOG_LEVEL,
    requests=ENCLAVE_LOG_REQUESTS,
    message_trail=ENCLAVE_LOG_MESSAGE_TRAIL,
)
