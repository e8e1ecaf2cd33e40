"""Knobs of the files app that are not (yet) in config/settings: one environment variable each.

A Django setting of the same name wins (tests override them with pytest-django's `settings`);
otherwise the `ENCLAVE_*` environment variable; otherwise the default here.
"""

from __future__ import annotations

import environ
from django.conf import settings

env = environ.Env()

DEFAULTS: dict[str, float] = {
    # Larger files go through the resumable upload API (POST /api/v1/uploads/) in the web client.
    "ENCLAVE_UPLOAD_CHUNKED_THRESHOLD_BYTES": 8 * 1024 * 1024,
    # PDF first-page previews: larger or longer documents get none (the file is still served).
    "ENCLAVE_PDF_PREVIEW_MAX_BYTES": 50 * 1024 * 1024,
    "ENCLAVE_PDF_PREVIEW_MAX_PAGES": 2000,
    "ENCLAVE_PDF_PREVIEW_MAX_PIXELS": 4_000_000,
    "ENCLAVE_PDF_PREVIEW_TIMEOUT_SECONDS": 20.0,
    "ENCLAVE_PDF_PREVIEW_MEMORY_BYTES": 1024 * 1024 * 1024,
}


def files_setting(name: str) -> float:
    value = getattr(settings, name, None)
    if value is None:
        value = env.float(name, default=DEFAULTS[name])
    return float(value)


def files_int_setting(name: str) -> int:
    return int(files_setting(name))
