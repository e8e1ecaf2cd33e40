"""System checks of the files settings (`manage.py check`, run by migrate and the deploy)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks


def encryption_settings_check(**_kwargs: Any) -> list[checks.CheckMessage]:
    """Encryption on with nginx serving downloads: encrypted files stream through the app."""
    encrypting = bool(settings.ENCLAVE_FILES_ENCRYPTION_KEYS) or (
        settings.ENCLAVE_FILES_KEYRING == "vault"
    )
    if encrypting and settings.ENCLAVE_FILES_X_ACCEL:
        return [
            checks.Warning(
                "ENCLAVE_FILES_X_ACCEL is on with file encryption: nginx cannot send ciphertext, "
                "so encrypted files stream through the app processes (files still stored in the "
                "clear go through nginx until they are re-encrypted).",
                hint="Set ENCLAVE_FILES_X_ACCEL=false once every file is encrypted "
                "(manage.py files_encryption status), and size the app processes for downloads.",
                id="files.W001",
            )
        ]
    return []
