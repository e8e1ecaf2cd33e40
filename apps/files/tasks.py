"""Celery tasks for files: an interface that loads by id and calls one service."""

from __future__ import annotations

from celery import shared_task

from apps.files import services


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
