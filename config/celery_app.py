"""Celery application. Tasks take ids, load fresh state and call a service
(docs/architecture/README.md).

In the embedded default (no REDIS_URL) tasks run eagerly in the calling process.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("enclave")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
