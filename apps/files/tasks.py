"""Celery tasks for files: an interface that loads by id and calls one service."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

from apps.files import key_rotation, services


@shared_task(name="apps.files.tasks.scan_attachment", acks_late=True)
def scan_attachment(attachment_id: str) -> str | None:
    attachment = services.attachment_scan(attachment_id=attachment_id)
    return attachment.status if attachment is not None else None


@shared_task(name="apps.files.tasks.make_thumbnail", acks_late=True)
def make_thumbnail(attachment_id: str) -> bool:
    attachment = services.attachment_make_thumbnail(attachment_id=attachment_id)
    return bool(attachment is not None and attachment.thumbnail_name)


@shared_task(name="apps.files.tasks.rescan_after_signature_update")
def rescan_after_signature_update() -> int:
    return services.attachments_rescan_after_signature_update()


@shared_task(name="apps.files.tasks.purge_deleted_attachments")
def purge_deleted_attachments() -> int:
    return services.attachments_purge_deleted()


@shared_task(name="apps.files.tasks.reencrypt_stored_files", acks_late=True)
def reencrypt_stored_files(after: str = "", progress: dict[str, Any] | None = None) -> bool:
    """One batch of the re-encryption job; queues the next until the walk is done. A batch
    whose worker dies is redelivered (acks_late) and redone: the job is idempotent."""
    result = key_rotation.stored_files_reencrypt_batch(
        after=after,
        limit=settings.ENCLAVE_FILES_REENCRYPT_BATCH_SIZE,
        progress=key_rotation.ReencryptionProgress(**progress) if progress else None,
    )
    if not result.done:
        reencrypt_stored_files.delay(after=result.cursor, progress=result.as_dict())
    else:
        key_rotation.stored_files_census()  # fresh counts for the metrics
    return result.done
