"""Typed schemas of file events and the attachment payload shared with chat messages.

A message carries its attachments (`MessagePayload.attachments`). One payload goes to every
member, so an attachment that is not clean yet shows only its id and status: the "being
checked" placeholder. Its uploader reads the details through `GET /api/v1/files/{id}/`.
"""

from __future__ import annotations

from typing import Literal, TypedDict

from apps.chat.attachments import AttachmentPayload
from apps.files.models import Attachment, AttachmentStatus
from apps.files.scanner import scan_failure_code


class AttachmentDetailPayload(AttachmentPayload):
    """What the uploader and channel readers get from the files API."""

    channel_id: int | None
    message_id: int | None
    uploader_id: int
    created_at: str
    scanned_at: str | None
    # Why the scan failed, for the uploader ("limit_exceeded", "scanner_unverified",
    # "scanner_unavailable"); empty unless the file is `failed` and this is its uploader.
    scan_failure: str


class AttachmentUpdatedEvent(TypedDict):
    """The uploader's own file changed state (scanned, released, deleted)."""

    type: Literal["attachment.updated"]
    attachment: AttachmentDetailPayload


class AttachmentQuarantinedEvent(TypedDict):
    """A file was found infected: sent to its uploader and to every organisation admin."""

    type: Literal["attachment.quarantined"]
    attachment_id: str
    uploader_id: int
    name: str
    signature: str
    channel_id: int | None


def attachment_payload(attachment: Attachment) -> AttachmentPayload:
    """The public shape; only clean files show more than id and status."""
    if attachment.status != AttachmentStatus.CLEAN or attachment.deleted_at is not None:
        status = "deleted" if attachment.deleted_at is not None else attachment.status
        return {
            "id": str(attachment.pk),
            "status": status,
            "name": "",
            "content_type": "",
            "size": 0,
            "is_image": False,
            "has_thumbnail": False,
            "image_width": None,
            "image_height": None,
        }
    return _full_payload(attachment)


def _full_payload(attachment: Attachment) -> AttachmentPayload:
    return {
        "id": str(attachment.pk),
        "status": attachment.status,
        "name": attachment.original_name,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "is_image": attachment.is_image,
        "has_thumbnail": bool(attachment.thumbnail_name),
        "image_width": attachment.image_width,
        "image_height": attachment.image_height,
    }


def attachment_detail_payload(
    attachment: Attachment, *, for_uploader: bool
) -> AttachmentDetailPayload:
    """Details for the files API: the uploader always sees their own file's name and size."""
    base = _full_payload(attachment) if for_uploader else attachment_payload(attachment)
    if attachment.deleted_at is not None:
        base = {**base, "status": "deleted"}
    failed = for_uploader and base["status"] == AttachmentStatus.FAILED
    return {
        **base,
        "channel_id": attachment.channel_id,
        "message_id": attachment.message_id,
        "uploader_id": attachment.uploader_id,
        "created_at": attachment.created_at.isoformat(),
        "scanned_at": attachment.scanned_at.isoformat() if attachment.scanned_at else None,
        "scan_failure": scan_failure_code(attachment.scan_signature) if failed else "",
    }


EVENT_SCHEMAS: dict[str, type] = {
    "attachment.updated": AttachmentUpdatedEvent,
    "attachment.quarantined": AttachmentQuarantinedEvent,
}
