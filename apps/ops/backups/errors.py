"""Why a backup, restore or drill was refused or failed: domain errors with stable codes."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from apps.core.errors import DomainError


class BackupError(DomainError):
    code = "backup_failed"
    http_status = 500
    default_message = _("The backup could not be completed.")


class BackupKeyMissing(BackupError):
    code = "backup_key_missing"
    default_message = _(
        "ENCLAVE_BACKUP_KEY is not set: backups are always encrypted. "
        "Create a key with `manage.py backup --generate-key` and keep a copy off this machine."
    )


class BackupKeyInvalid(BackupError):
    code = "backup_key_invalid"
    default_message = _("ENCLAVE_BACKUP_KEY must be 32 bytes, base64-encoded.")


class BackupKeyMismatch(BackupError):
    code = "backup_key_mismatch"
    default_message = _("This backup was encrypted with a different key than ENCLAVE_BACKUP_KEY.")


class BackupCorrupt(BackupError):
    code = "backup_corrupt"
    default_message = _("The backup is damaged and cannot be used.")


class BackupNotFound(BackupError):
    code = "backup_not_found"
    http_status = 404
    default_message = _("No complete backup was found.")


class BackupBusy(BackupError):
    code = "backup_busy"
    http_status = 409
    default_message = _("Another backup or restore drill is running.")


class RestoreTargetNotEmpty(BackupError):
    code = "restore_target_not_empty"
    http_status = 409
    default_message = _(
        "The database to restore into is not empty; restore only rebuilds an empty system "
        "(use --force to replace its contents)."
    )
