"""Stored file contents (content-addressed), attachments that point at them, upload sessions."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class StoredBlob(models.Model):
    """One stored byte sequence, named by its SHA-256: the same bytes are stored once.

    Never served by itself: every read goes through an `Attachment` and its access check.
    """

    sha256 = models.CharField(max_length=64, unique=True)
    size = models.BigIntegerField()
    # Name in the "enclave_files" storage (local disk or S3 bucket).
    storage_name = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("stored file")
        verbose_name_plural = _("stored files")

    def __str__(self) -> str:
        return self.sha256


class AttachmentStatus(models.TextChoices):
    PENDING = "pending", _("Being checked")
    CLEAN = "clean", _("Clean")
    INFECTED = "infected", _("Infected (quarantined)")
    FAILED = "failed", _("Scan failed")


class Attachment(models.Model):
    """A file one user uploaded; later attached to one message (and so readable in its channel).

    The id is a random UUID: ids cannot be enumerated, and anything the user may not read
    answers exactly like an id that does not exist.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    uploader = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="attachments"
    )
    blob = models.ForeignKey(StoredBlob, on_delete=models.PROTECT, related_name="attachments")
    original_name = models.CharField(_("file name"), max_length=255)
    # Sniffed from the content (and consistent with the extension), never the client's claim.
    content_type = models.CharField(max_length=100)
    size = models.BigIntegerField()
    status = models.CharField(
        max_length=10, choices=AttachmentStatus.choices, default=AttachmentStatus.PENDING
    )
    scanned_at = models.DateTimeField(null=True, blank=True)
    # clamd's answer: the signature name when infected, the reason when the scan failed.
    scan_signature = models.CharField(max_length=255, blank=True)
    # clamd's signature database version at the last scan (rescans after it changes).
    scan_db_version = models.CharField(max_length=64, blank=True)
    channel = models.ForeignKey(
        "chat.Channel",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="attachments",
    )
    message = models.ForeignKey(
        "chat.Message",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="attachments",
    )
    image_width = models.IntegerField(null=True, blank=True)
    image_height = models.IntegerField(null=True, blank=True)
    # Name in the "enclave_files" storage; empty when there is none (yet).
    thumbnail_name = models.CharField(max_length=255, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Soft delete: never served again; the row and blob go after ENCLAVE_FILES_RETENTION_DAYS.
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        indexes = [
            models.Index(fields=["uploader", "deleted_at"]),
            models.Index(fields=["channel", "created_at"]),
            models.Index(fields=["status", "scanned_at"]),
        ]

    def __str__(self) -> str:
        return self.original_name

    @property
    def is_image(self) -> bool:
        return self.content_type in INLINE_IMAGE_TYPES

    @property
    def has_preview_source(self) -> bool:
        """Images get a thumbnail, PDFs a picture of their first page (once clean)."""
        return self.content_type in INLINE_IMAGE_TYPES or self.content_type == PDF_TYPE


# Types a browser may render inline from our origin (with nosniff and a sandbox CSP).
INLINE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
PDF_TYPE = "application/pdf"
INLINE_TYPES = INLINE_IMAGE_TYPES | {PDF_TYPE}


class UploadSession(models.Model):
    """A resumable upload: chunks arrive in any order, `complete` assembles them."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    uploader = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="upload_sessions"
    )
    original_name = models.CharField(max_length=255)
    total_size = models.BigIntegerField()
    chunk_size = models.IntegerField()
    # Indexes of the chunks stored so far.
    received_chunks = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    completed_attachment = models.OneToOneField(
        Attachment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("upload session")
        verbose_name_plural = _("upload sessions")

    def __str__(self) -> str:
        return f"{self.original_name} ({self.total_size} bytes)"

    @property
    def chunk_count(self) -> int:
        return max(1, -(-self.total_size // self.chunk_size))
