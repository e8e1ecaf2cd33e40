"""The text of clean files, for the assistant: read once a file is scanned clean, kept as passages.

A file whose scan comes out clean (or that an admin releases) is read by a Celery task
(`index_file_text`, enqueued by apps.assistant.file_listener after the verdict commits): its
bytes through `apps.files.storage.iter_stored` (the files app's one reader of stored bytes), its
text by `apps.files.document_text` (PDF, DOCX, Markdown, plain text), cut into passages of about
600 characters (`FilePassage`). Limits: a file above `ENCLAVE_ASSISTANT_FILE_MAX_BYTES` is not
read (`FileText.State.TOO_LARGE`); the text kept stops at `ENCLAVE_ASSISTANT_FILE_MAX_CHARS`.

Nothing here decides who may read a passage: retrieval (apps.assistant.selectors) joins each
passage to its attachment and the attachment's message, and keeps only clean, undeleted files
of undeleted messages in the asker's channels, whatever this index holds. The index is tidied
too (a file found infected or deleted loses its passages) but is never the boundary.
"""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.db import transaction

from apps.assistant.models import FilePassage, FileText
from apps.files import document_text
from apps.files.models import Attachment, AttachmentStatus
from apps.files.storage import iter_stored

logger = logging.getLogger(__name__)

MAX_PASSAGES_PER_FILE = 1000


def file_kind(attachment: Attachment) -> str | None:
    """The document kind of an attachment (by its sniffed type, else its name), or None when
    its text is not read."""
    return document_text.kind_for_type(attachment.content_type) or (
        document_text.kind_for_name(attachment.original_name)
        if attachment.content_type.startswith("text/")
        else None
    )


def _indexable(attachment_id: uuid.UUID | str) -> Attachment | None:
    return (
        Attachment.objects.select_related("blob")
        .filter(pk=attachment_id, deleted_at__isnull=True, status=AttachmentStatus.CLEAN)
        .first()
    )


def _read(attachment: Attachment) -> bytes:
    data = bytearray()
    for block in iter_stored(attachment.blob.storage_name):
        data += block
        if len(data) > settings.ENCLAVE_ASSISTANT_FILE_MAX_BYTES:
            raise ValueError("larger than ENCLAVE_ASSISTANT_FILE_MAX_BYTES")
    return bytes(data)


def file_text_forget(*, attachment_id: uuid.UUID | str) -> None:
    """Drop a file's text and passages (it is no longer clean, or is deleted)."""
    FilePassage.objects.filter(attachment_id=attachment_id).delete()
    FileText.objects.filter(attachment_id=attachment_id).delete()


def file_text_index(*, attachment_id: uuid.UUID | str) -> FileText | None:
    """Read a clean file's text and (re)build its passages (the task's body).

    Returns the file's `FileText`, or None when there is nothing to read: the file is gone,
    not clean (pending, failed, infected) or of a kind whose text is not read.
    """
    attachment = _indexable(attachment_id)
    if attachment is None:
        file_text_forget(attachment_id=attachment_id)
        return None
    kind = file_kind(attachment)
    if kind is None:
        return None
    # The bytes are read and parsed outside any transaction: no row is locked meanwhile.
    state, text, error = FileText.State.READY, "", ""
    if attachment.size > settings.ENCLAVE_ASSISTANT_FILE_MAX_BYTES:
        state = FileText.State.TOO_LARGE
    else:
        try:
            text = document_text.document_text(kind=kind, data=_read(attachment))
        except ValueError:
            state = FileText.State.TOO_LARGE
        except (document_text.UnreadableDocument, OSError) as failure:
            logger.warning("assistant: file %s unreadable: %s", attachment.pk, failure)
            state, error = FileText.State.UNREADABLE, str(failure)[:200]
    limit = settings.ENCLAVE_ASSISTANT_FILE_MAX_CHARS
    truncated = len(text) > limit
    passages = document_text.split_passages(text[:limit])[:MAX_PASSAGES_PER_FILE]
    with transaction.atomic():
        # Checked again under the row lock: a verdict or a deletion that came in while the
        # file was read wins (its own hook has dropped, or will drop, the passages).
        current = (
            Attachment.objects.select_for_update()
            .filter(pk=attachment.pk, deleted_at__isnull=True, status=AttachmentStatus.CLEAN)
            .first()
        )
        if current is None:
            file_text_forget(attachment_id=attachment.pk)
            return None
        FilePassage.objects.filter(attachment_id=attachment.pk).delete()
        FilePassage.objects.bulk_create(
            [
                FilePassage(attachment_id=attachment.pk, position=position, text=passage)
                for position, passage in enumerate(passages)
            ],
            batch_size=500,
        )
        row, _created = FileText.objects.update_or_create(
            attachment_id=attachment.pk,
            defaults={
                "state": state,
                "char_count": min(len(text), limit),
                "truncated": truncated,
                "error": error,
            },
        )
    return row


def files_text_backfill() -> int:
    """Index every clean file of a readable kind that has no text yet (after an upgrade);
    returns how many were read."""
    done = 0
    indexed = FileText.objects.values("attachment_id")
    pending = Attachment.objects.filter(
        deleted_at__isnull=True, status=AttachmentStatus.CLEAN
    ).exclude(pk__in=indexed)
    for attachment_id in pending.values_list("pk", flat=True).iterator():
        if file_text_index(attachment_id=attachment_id) is not None:
            done += 1
    return done
