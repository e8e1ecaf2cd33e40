"""Test settings: the same as base, with fast password hashing.

The database and channel layer follow DATABASE_URL / REDIS_URL like every other mode, so the
same suite runs on the embedded default and on PostgreSQL + Redis.
"""

from .base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = True
REST_FRAMEWORK_THROTTLE_DISABLED = True
# SQLite tests use Django's shared in-memory database (fast, private to each xdist worker).
