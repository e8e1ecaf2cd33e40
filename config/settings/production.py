"""Production: same code as base; values from the environment and secure defaults."""

from .base import *  # noqa: F403
from .base import env

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

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = env.str("ENCLAVE_EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("ENCLAVE_EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("ENCLAVE_EMAIL_USER", default="")
EMAIL_HOST_PASSWORD = env.str("ENCLAVE_EMAIL_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("ENCLAVE_EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env.str("ENCLAVE_DEFAULT_FROM_EMAIL", default="enclave@localhost")
