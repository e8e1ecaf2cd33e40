"""Writes on files: upload, scan verdicts, thumbnails, release, deletion, retention.

The only place that publishes file events (after commit). Scanning fails closed: a file is
`clean` only after clamd answered OK for its bytes (or an admin released it, audited).
"""

from __future__ import annotations

import io
import logging
import tempfile
import unicodedata
import uuid
import warnings
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import IO, cast

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image

from apps.accounts.models import Role, User
from apps.chat.holds import message_is_held
from apps.core.errors import Conflict, Forbidden, InvalidInput
from apps.core.events import Audience, publish_on_commit
from apps.core.metrics import FILE_SCANS
from apps.files import clamd, events, scanner
from apps.files.audit import FILE_DELETED, FILE_QUARANTINED, FILE_RELEASED, audit_file_event
from apps.files.models import (
    INLINE_IMAGE_TYPES,
    PDF_TYPE,
    Attachment,
    AttachmentStatus,
    StoredBlob,
    UploadSession,
)
from apps.files.pdf_render import PdfLimits, PdfPreviewRefused, render_pdf_preview
from apps.files.permissions import (
    access_attachment_delete,
    access_attachment_manage,
    access_upload_session,
)
from apps.files.sniffing import SNIFF_BYTES, sniff
from apps.files.storage import (
    blob_name,
    chunk_name,
    files_storage,
    hash_stream,
    iter_stored,
    open_stored,
    save_stored,
    thumbnail_name,
)

logger = logging.getLogger(__name__)

MAX_NAME_CHARS = 255
SPOOL_BYTES = 8 * 1024 * 1024


# --- checks -------------------------------------------------------------------------------------


def _clean_name(name: object) -> str:
    if not isinstance(name, str):
        raise InvalidInput(_("The file needs a name."), code="invalid_name")
    # Keep the last path component and drop control characters (header injection, RTL tricks).
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    if not name or name in (".", ".."):
        raise InvalidInput(_("The file needs a name."), code="invalid_name")
    if len(name) > MAX_NAME_CHARS:
        stem, dot, extension = name.rpartition(".")
        name = (stem[: MAX_NAME_CHARS - len(extension) - 1] + dot + extension) if dot else name
        name = name[:MAX_NAME_CHARS]
    return name


def _check_size(size: int) -> None:
    if size <= 0:
        raise InvalidInput(_("The file is empty."), code="empty_file")
    if size > settings.ENCLAVE_UPLOAD_MAX_BYTES:
        raise InvalidInput(
            _("The file is too large."),
            code="file_too_large",
            details={"max_bytes": settings.ENCLAVE_UPLOAD_MAX_BYTES},
        ).with_status(413)


def storage_used_by(user: User) -> int:
    """Bytes counted against the user's quota: their uploads not deleted."""
    used = Attachment.objects.filter(uploader=user, deleted_at__isnull=True).aggregate(
        total=Sum("size")
    )["total"]
    return int(used or 0)


def _check_quota(user: User, size: int) -> None:
    quota = settings.ENCLAVE_UPLOAD_USER_QUOTA_BYTES
    used = storage_used_by(user)
    if used + size > quota:
        raise Forbidden(
            _("This upload would exceed your storage quota."),
            code="quota_exceeded",
            details={"quota_bytes": quota, "used_bytes": used},
        )


def image_dimensions(source: IO[bytes]) -> tuple[int, int] | None:
    """Width and height read from the image header (no pixel is decoded); None if unreadable.

    Raises Image.DecompressionBombError for headers far beyond Pillow's own limit.
    """
    source.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                size = image.size
    except (OSError, ValueError, SyntaxError):
        size = None
    finally:
        source.seek(0)
    return size


def _check_image(source: IO[bytes], content_type: str) -> tuple[int | None, int | None]:
    if content_type not in INLINE_IMAGE_TYPES:
        return None, None
    too_large = InvalidInput(
        _("The image has too many pixels."),
        code="image_too_large",
        details={"max_pixels": settings.ENCLAVE_IMAGE_MAX_PIXELS},
    )
    try:
        dimensions = image_dimensions(source)
    except Image.DecompressionBombError:
        raise too_large from None
    if dimensions is None:
        raise InvalidInput(_("The image cannot be read."), code="invalid_image")
    width, height = dimensions
    if width * height > settings.ENCLAVE_IMAGE_MAX_PIXELS:
        raise too_large
    return width, height


# --- storing ------------------------------------------------------------------------------------


def _blob_for(source: IO[bytes]) -> StoredBlob:
    """The stored blob holding exactly these bytes; stored now if they are new.

    Precondition: inside the upload's transaction. An existing blob row stays locked until that
    transaction commits the attachment referring to it, and the purge takes the same lock before
    it deletes an unused blob (`_blob_purge_if_unused`), so a re-upload of the same bytes either
    waits for the purge to finish (and stores the bytes again) or makes the purge keep the blob.
    """
    sha256, size = hash_stream(source)
    existing = StoredBlob.objects.select_for_update().filter(sha256=sha256).first()
    storage = files_storage()
    name = blob_name(sha256)
    if existing is not None and storage.exists(existing.storage_name):
        return existing
    if not storage.exists(name):
        stored_as = save_stored(name, source)
        if stored_as != name:  # a concurrent upload of the same bytes won the name
            storage.delete(stored_as)
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return StoredBlob.objects.create(sha256=sha256, size=size, storage_name=name)
    except IntegrityError:
        return StoredBlob.objects.select_for_update().get(sha256=sha256)


def _store_upload(*, uploader: User, source: IO[bytes], name: str, size: int) -> Attachment:
    """Checks, stores and records an upload; the scan starts after commit.

    Precondition: the caller is inside `transaction.atomic`.
    """
    _check_size(size)
    source.seek(0)
    head = source.read(SNIFF_BYTES)
    sniffed = sniff(name=name, head=head)
    if sniffed.mismatch is not None:
        raise InvalidInput(
            _("The file's content does not match its name."),
            code="type_mismatch",
            details={"detected": sniffed.content_type},
        ).with_status(415)
    width, height = _check_image(source, sniffed.content_type)
    # Serialise one user's uploads so two concurrent ones cannot both squeeze under the quota.
    User.objects.select_for_update().filter(pk=uploader.pk).first()
    _check_quota(uploader, size)
    blob = _blob_for(source)
    if blob.size != size:
        raise InvalidInput(_("The upload is incomplete."), code="size_mismatch")
    attachment = Attachment.objects.create(
        uploader=uploader,
        blob=blob,
        original_name=name,
        content_type=sniffed.content_type,
        size=size,
        image_width=width,
        image_height=height,
    )
    _enqueue_scan(attachment.pk)
    return attachment


def _enqueue_scan(attachment_id: uuid.UUID) -> None:
    from apps.files.tasks import scan_attachment

    transaction.on_commit(lambda: scan_attachment.delay(str(attachment_id)))


@transaction.atomic
def attachment_upload(
    *, uploader: User, source: IO[bytes], name: str, size: int | None = None
) -> Attachment:
    """Store an uploaded file as a `pending` attachment and scan it after commit."""
    name = _clean_name(name)
    if size is None:
        _sha, size = hash_stream(source)
    return _store_upload(uploader=uploader, source=source, name=name, size=size)


# --- resumable uploads --------------------------------------------------------------------------


@transaction.atomic
def upload_session_create(*, uploader: User, name: str, size: int) -> UploadSession:
    """Start a chunked upload; size and quota are checked up front and again at the end."""
    name = _clean_name(name)
    _check_size(size)
    _check_quota(uploader, size)
    return UploadSession.objects.create(
        uploader=uploader,
        original_name=name,
        total_size=size,
        chunk_size=settings.ENCLAVE_UPLOAD_CHUNK_BYTES,
        expires_at=timezone.now() + timedelta(hours=settings.ENCLAVE_UPLOAD_SESSION_HOURS),
    )


def _open_session(*, user: User, session_id: uuid.UUID | str) -> UploadSession:
    session = access_upload_session(user=user, session_id=session_id)
    session = UploadSession.objects.select_for_update().get(pk=session.pk)
    if session.expires_at <= timezone.now():
        raise Conflict(_("This upload has expired; start again."), code="upload_expired")
    return session


@transaction.atomic
def upload_session_put_chunk(
    *, user: User, session_id: uuid.UUID | str, index: int, data: bytes
) -> UploadSession:
    """Store chunk `index` (0-based). Re-sending a chunk replaces it, so retries are safe."""
    session = _open_session(user=user, session_id=session_id)
    if session.completed_attachment_id is not None:
        raise Conflict(_("This upload is already complete."), code="upload_complete")
    if index < 0 or index >= session.chunk_count:
        raise InvalidInput(_("No such chunk."), code="invalid_chunk")
    expected = min(session.chunk_size, session.total_size - index * session.chunk_size)
    if len(data) != expected:
        raise InvalidInput(
            _("A chunk has the wrong size."),
            code="invalid_chunk",
            details={"expected_bytes": expected},
        )
    storage = files_storage()
    name = chunk_name(session.pk, index)
    if storage.exists(name):
        storage.delete(name)
    save_stored(name, io.BytesIO(data))
    if index not in session.received_chunks:
        session.received_chunks = sorted([*session.received_chunks, index])
        session.save(update_fields=["received_chunks"])
    return session


@transaction.atomic
def upload_session_complete(*, user: User, session_id: uuid.UUID | str) -> Attachment:
    """Assemble the chunks into a pending attachment. Completing twice returns the same one."""
    session = _open_session(user=user, session_id=session_id)
    if session.completed_attachment is not None:
        return session.completed_attachment
    missing = sorted(set(range(session.chunk_count)) - set(session.received_chunks))
    if missing:
        raise Conflict(
            _("Some chunks are missing."),
            code="upload_incomplete",
            details={"missing_chunks": missing[:100]},
        )
    names = [chunk_name(session.pk, index) for index in range(session.chunk_count)]
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as assembled:
        for name in names:
            for block in iter_stored(name):
                assembled.write(block)
        attachment = _store_upload(
            uploader=user,
            source=assembled,
            name=session.original_name,
            size=session.total_size,
        )
    session.completed_attachment = attachment
    session.save(update_fields=["completed_attachment"])
    transaction.on_commit(lambda: _delete_names(names), robust=True)
    return attachment


def _delete_names(names: Iterable[str]) -> None:
    storage = files_storage()
    for name in names:
        storage.delete(name)


# --- attaching to messages (called by apps.chat.services.message_send) ------------------------


def attachments_claim_for_message(
    *, sender: User, attachment_ids: Sequence[object]
) -> list[Attachment]:
    """Lock the sender's own unattached attachments named by `attachment_ids`, in that order.

    Precondition: inside the sending transaction. Any id that is not the sender's, already
    attached or deleted makes the whole send fail (nothing is half-attached).
    """
    if len(attachment_ids) > settings.ENCLAVE_MAX_ATTACHMENTS_PER_MESSAGE:
        raise InvalidInput(
            _("Too many files in one message."),
            code="too_many_attachments",
            details={"max": settings.ENCLAVE_MAX_ATTACHMENTS_PER_MESSAGE},
        )
    keys: list[uuid.UUID] = []
    for raw in attachment_ids:
        try:
            key = uuid.UUID(str(raw))
        except ValueError:
            raise InvalidInput(_("Unknown file."), code="invalid_attachment") from None
        if key not in keys:
            keys.append(key)
    found = {
        attachment.pk: attachment
        for attachment in Attachment.objects.select_for_update().filter(
            pk__in=keys, uploader=sender, message__isnull=True, deleted_at__isnull=True
        )
    }
    if len(found) != len(keys):
        raise InvalidInput(
            _("A file is unknown, not yours, or already attached."), code="invalid_attachment"
        )
    return [found[key] for key in keys]


def attachments_link_to_message(*, attachments: Sequence[Attachment], message_id: int) -> None:
    """Point claimed attachments at their message and its channel (same transaction)."""
    from apps.chat.models import Message

    message = Message.objects.only("id", "channel_id").get(pk=message_id)
    Attachment.objects.filter(pk__in=[a.pk for a in attachments]).update(
        message_id=message.pk, channel_id=message.channel_id
    )
    for attachment in attachments:
        attachment.message_id = message.pk
        attachment.channel_id = message.channel_id


def attachments_delete_for_message(*, message_id: int) -> int:
    """Delete the files of a deleted message (same transaction); purged after retention."""
    return Attachment.objects.filter(message_id=message_id, deleted_at__isnull=True).update(
        deleted_at=timezone.now()
    )


# --- scanning -----------------------------------------------------------------------------------


def _publish_changed(attachment: Attachment) -> None:
    """Tell the uploader; if attached, update the message for its channel (a new version)."""
    publish_on_commit(
        {
            "type": "attachment.updated",
            "attachment": events.attachment_detail_payload(attachment, for_uploader=True),
        },
        to=Audience.users([attachment.uploader_id]),
    )
    if attachment.message_id is not None:
        from apps.chat.services import message_attachments_changed

        message_attachments_changed(message_id=attachment.message_id)


def _admin_ids() -> list[int]:
    return list(
        User.objects.filter(role__in=[Role.OWNER, Role.ADMIN], is_active=True).values_list(
            "pk", flat=True
        )
    )


def attachment_scan(*, attachment_id: uuid.UUID | str) -> Attachment | None:
    """Stream the attachment's bytes to clamd and record the verdict.

    No verdict (clamd down, time-out, one of clamd's limits exceeded, or an OK from a clamd
    that does not report exceeded limits) leaves a pending file `failed`; a file that was
    already clean or infected keeps its state (a failed re-scan proves nothing new), except a
    clean file that now exceeds a limit: it becomes `failed`.
    """
    attachment = (
        Attachment.objects.select_related("blob")
        .filter(pk=attachment_id, deleted_at__isnull=True)
        .first()
    )
    if attachment is None:
        return None
    # The network call happens outside any transaction: no row is locked while clamd reads.
    database = ""
    limit_exceeded = False
    try:
        verdict: clamd.Verdict | None = clamd.scan_stream(
            iter_stored(attachment.blob.storage_name),
            address=settings.ENCLAVE_CLAMD_ADDRESS,
            timeout=settings.ENCLAVE_CLAMD_TIMEOUT_SECONDS,
        )
        error = ""
        if verdict is not None and not verdict.infected:
            # An OK means "nothing found in what I read": only from a clamd that would have
            # said so had it stopped at a limit does it mean the whole file.
            status = scanner.scanner_status()
            if not status.trusted:
                verdict, error = None, status.problem[:255]
                logger.warning("attachment %s not passed: %s", attachment.pk, error)
        if verdict is not None:
            try:
                database = clamd.database_version(
                    address=settings.ENCLAVE_CLAMD_ADDRESS, timeout=5.0
                )
            except clamd.ScanFailed:
                database = ""
    except clamd.ScanLimitExceeded as exceeded:
        verdict, limit_exceeded = None, True
        error = f"{scanner.LIMIT_EXCEEDED_REASON}{exceeded.limit}"[:255]
        logger.warning("scan of attachment %s stopped at a limit: %s", attachment.pk, error)
    except clamd.ScanFailed as failure:
        verdict, error = None, str(failure)[:255]
        logger.warning("scan of attachment %s failed: %s", attachment.pk, error)
    except OSError as failure:  # the stored file itself could not be read
        verdict, error = None, f"storage: {failure}"[:255]
        logger.exception("scan of attachment %s could not read the file", attachment.pk)
    FILE_SCANS.labels(
        "failed" if verdict is None else "infected" if verdict.infected else "clean"
    ).inc()
    return _record_verdict(
        attachment_id=attachment.pk,
        verdict=verdict,
        error=error,
        database=database,
        limit_exceeded=limit_exceeded,
    )


@transaction.atomic
def _record_verdict(
    *,
    attachment_id: uuid.UUID,
    verdict: clamd.Verdict | None,
    error: str,
    database: str,
    limit_exceeded: bool = False,
) -> Attachment | None:
    """Store the scan's outcome. Without a verdict only a pending file becomes `failed`, and a
    clean one when clamd stopped at a limit: its earlier OK (from a clamd that did not report
    limits) proved nothing. A file an admin released stays released."""
    attachment = (
        Attachment.objects.select_for_update()
        .filter(pk=attachment_id, deleted_at__isnull=True)
        .first()
    )
    if attachment is None:
        return None
    before = attachment.status
    now = timezone.now()
    if verdict is None:
        passed_unread = (
            limit_exceeded
            and before == AttachmentStatus.CLEAN
            and attachment.released_by_id is None
        )
        if before != AttachmentStatus.PENDING and not passed_unread:
            return attachment
        attachment.status = AttachmentStatus.FAILED
        attachment.scan_signature = error
    elif verdict.infected:
        attachment.status = AttachmentStatus.INFECTED
        attachment.scan_signature = verdict.signature[:255]
    else:
        attachment.status = AttachmentStatus.CLEAN
        attachment.scan_signature = ""
    attachment.scanned_at = now
    attachment.scan_db_version = database[:64]
    attachment.save(update_fields=["status", "scan_signature", "scanned_at", "scan_db_version"])
    # A clean file without a preview gets one (again): a rescan also fills in previews of files
    # that were clean before previews of their type existed.
    if (
        attachment.status == AttachmentStatus.CLEAN
        and attachment.has_preview_source
        and not attachment.thumbnail_name
    ):
        _enqueue_thumbnail(attachment.pk)
    if attachment.status == before:
        return attachment
    _publish_changed(attachment)
    if attachment.status == AttachmentStatus.INFECTED:
        _quarantined(attachment)
    return attachment


def _quarantined(attachment: Attachment) -> None:
    audit_file_event(
        FILE_QUARANTINED,
        actor=None,
        attachment_id=attachment.pk,
        name=attachment.original_name,
        uploader_id=attachment.uploader_id,
        signature=attachment.scan_signature,
        sha256=attachment.blob.sha256,
    )
    publish_on_commit(
        {
            "type": "attachment.quarantined",
            "attachment_id": str(attachment.pk),
            "uploader_id": attachment.uploader_id,
            "name": attachment.original_name,
            "signature": attachment.scan_signature,
            "channel_id": attachment.channel_id,
        },
        to=Audience.users({attachment.uploader_id, *_admin_ids()}),
    )


def _enqueue_thumbnail(attachment_id: uuid.UUID) -> None:
    from apps.files.tasks import make_thumbnail

    transaction.on_commit(lambda: make_thumbnail.delay(str(attachment_id)))


# --- thumbnails ---------------------------------------------------------------------------------


def render_thumbnail(source: IO[bytes], *, size: int, max_pixels: int) -> bytes:
    """A PNG of at most size x size pixels. Refuses images above `max_pixels` before decoding.

    Pillow decodes lazily: `Image.open` reads the header only, so the check runs before any
    pixel buffer exists; `draft` lets JPEG decode at a reduced scale.
    """
    too_large = InvalidInput(_("The image has too many pixels."), code="image_too_large")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(source)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise too_large from None
        with image:
            width, height = image.size
            if width * height > max_pixels:
                raise too_large
            image.draft("RGB", (size, size))
            image.thumbnail((size, size))
            thumbnail = image if image.mode in ("RGB", "RGBA") else image.convert("RGBA")
            out = io.BytesIO()
            thumbnail.save(out, format="PNG", optimize=True)
    return out.getvalue()


def pdf_preview_limits() -> PdfLimits:
    return PdfLimits(
        box=settings.ENCLAVE_THUMBNAIL_SIZE,
        max_pages=settings.ENCLAVE_PDF_PREVIEW_MAX_PAGES,
        max_pixels=settings.ENCLAVE_PDF_PREVIEW_MAX_PIXELS,
        timeout_seconds=settings.ENCLAVE_PDF_PREVIEW_TIMEOUT_SECONDS,
        memory_bytes=settings.ENCLAVE_PDF_PREVIEW_MEMORY_BYTES,
    )


def _render_preview(attachment: Attachment, *, size: int) -> bytes | None:
    """The PNG preview of a clean image or PDF; None (logged) when there can be none."""
    if attachment.content_type == PDF_TYPE:
        if attachment.size > settings.ENCLAVE_PDF_PREVIEW_MAX_BYTES:
            logger.info("no preview for attachment %s: PDF above the size limit", attachment.pk)
            return None
        try:
            with open_stored(attachment.blob.storage_name) as source:
                data = source.read()
            return render_pdf_preview(data, limits=pdf_preview_limits())
        except (OSError, PdfPreviewRefused) as refusal:
            logger.warning("no preview for attachment %s: %s", attachment.pk, refusal)
            return None
    try:
        with open_stored(attachment.blob.storage_name) as source:
            return render_thumbnail(
                cast(IO[bytes], source), size=size, max_pixels=settings.ENCLAVE_IMAGE_MAX_PIXELS
            )
    except (
        OSError,
        ValueError,
        SyntaxError,
        InvalidInput,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ):
        logger.warning("no thumbnail for attachment %s", attachment.pk, exc_info=True)
        return None


def attachment_make_thumbnail(*, attachment_id: uuid.UUID | str) -> Attachment | None:
    """Render the thumbnail of a clean image, or the first page of a clean PDF.

    Stored once per blob and size; a file that cannot be previewed simply has none (and stays
    downloadable). Only ever runs on clean files: nothing parses bytes clamd has not passed.
    """
    attachment = (
        Attachment.objects.select_related("blob")
        .filter(pk=attachment_id, deleted_at__isnull=True, status=AttachmentStatus.CLEAN)
        .first()
    )
    if attachment is None or not attachment.has_preview_source or attachment.thumbnail_name:
        return attachment
    size = settings.ENCLAVE_THUMBNAIL_SIZE
    name = thumbnail_name(attachment.blob.sha256, size)
    storage = files_storage()
    if not storage.exists(name):
        data = _render_preview(attachment, size=size)
        if data is None:
            return attachment
        if not storage.exists(name):
            save_stored(name, io.BytesIO(data))
    with transaction.atomic():
        Attachment.objects.filter(pk=attachment.pk).update(thumbnail_name=name)
        attachment.thumbnail_name = name
        _publish_changed(attachment)
    return attachment


# --- admin --------------------------------------------------------------------------------------


@transaction.atomic
def attachment_rescan(*, actor: User, attachment_id: uuid.UUID | str) -> Attachment:
    """Scan a file again (admins). The verdict replaces the old one once clamd gives one."""
    attachment = access_attachment_manage(user=actor, attachment_id=attachment_id)
    _enqueue_scan(attachment.pk)
    return attachment


@transaction.atomic
def attachment_release(*, actor: User, attachment_id: uuid.UUID | str) -> Attachment:
    """Mark a quarantined or unscanned file clean by an admin's decision (audited)."""
    attachment = access_attachment_manage(user=actor, attachment_id=attachment_id)
    attachment = Attachment.objects.select_for_update().select_related("blob").get(pk=attachment.pk)
    if attachment.status == AttachmentStatus.CLEAN:
        return attachment
    previous = attachment.status
    attachment.status = AttachmentStatus.CLEAN
    attachment.released_by = actor
    attachment.save(update_fields=["status", "released_by"])
    audit_file_event(
        FILE_RELEASED,
        actor=actor,
        attachment_id=attachment.pk,
        name=attachment.original_name,
        previous_status=previous,
        signature=attachment.scan_signature,
        sha256=attachment.blob.sha256,
    )
    _publish_changed(attachment)
    if attachment.has_preview_source:
        _enqueue_thumbnail(attachment.pk)
    return attachment


@transaction.atomic
def attachment_delete(*, actor: User, attachment_id: uuid.UUID | str) -> Attachment:
    """Delete a file: never served again; bytes purged after the retention period."""
    attachment = access_attachment_delete(user=actor, attachment_id=attachment_id)
    attachment = Attachment.objects.select_for_update().get(pk=attachment.pk)
    if attachment.deleted_at is not None:
        return attachment
    attachment.deleted_at = timezone.now()
    attachment.save(update_fields=["deleted_at"])
    if actor.pk != attachment.uploader_id:
        audit_file_event(
            FILE_DELETED,
            actor=actor,
            attachment_id=attachment.pk,
            name=attachment.original_name,
            uploader_id=attachment.uploader_id,
            status=attachment.status,
        )
    _publish_changed(attachment)
    return attachment


def upload_sessions_purge_expired() -> int:
    """Forget expired resumable uploads and their stored chunks."""
    expired = list(
        UploadSession.objects.filter(expires_at__lt=timezone.now()).values_list(
            "pk", "received_chunks"
        )
    )
    UploadSession.objects.filter(pk__in=[pk for pk, _chunks in expired]).delete()
    for session_id, chunks in expired:
        _delete_names(chunk_name(session_id, index) for index in chunks)
    return len(expired)


def attachments_purge_deleted(*, older_than: timedelta | None = None) -> int:
    """Remove attachments deleted longer ago than the retention period, and orphaned blobs.

    Expired resumable uploads go in the same daily run.
    """
    upload_sessions_purge_expired()
    if older_than is None:
        older_than = timedelta(days=settings.ENCLAVE_FILES_RETENTION_DAYS)
    cutoff = timezone.now() - older_than
    with transaction.atomic():
        expired = Attachment.objects.filter(deleted_at__lt=cutoff)
        # A file of a message under a legal hold stays (hidden) until the hold is released.
        attached = expired.filter(message__isnull=False).select_related("message")
        held = [a.pk for a in attached if a.message is not None and message_is_held(a.message)]
        expired = expired.exclude(pk__in=held)
        blob_ids = set(expired.values_list("blob_id", flat=True))
        purged, _by_model = expired.delete()
    for blob_id in sorted(blob_ids):
        _blob_purge_if_unused(blob_id=blob_id)
    return purged


def attachments_remove_for_messages(*, message_ids: Iterable[int]) -> tuple[int, set[int]]:
    """Delete the attachment rows of messages about to be purged (retention), at once rather
    than after ENCLAVE_FILES_RETENTION_DAYS; returns (rows, their blob ids).

    Runs inside the caller's transaction; the bytes go with `blobs_purge_unused` once it has
    committed.
    """
    attachments = Attachment.objects.filter(message_id__in=list(message_ids))
    blob_ids = set(attachments.values_list("blob_id", flat=True))
    removed, _by_model = attachments.delete()
    return removed, blob_ids


def blobs_purge_unused(*, blob_ids: Iterable[int]) -> int:
    """Delete the bytes and rows of these blobs that no attachment refers to any more."""
    return sum(_blob_purge_if_unused(blob_id=blob_id) for blob_id in sorted(set(blob_ids)))


@transaction.atomic
def _blob_purge_if_unused(*, blob_id: int) -> bool:
    """Delete a blob's bytes and row if no attachment refers to it any more.

    The row lock orders this against a re-upload of the same bytes (`_blob_for` locks the row
    too): the check for referring attachments runs after the lock is held, and the bytes go
    before the row, so nobody can find the row and then miss the bytes. Should the commit fail
    after the bytes are gone, the row stays with no attachment, and the next upload of those
    bytes stores them again (`_blob_for` checks that they exist).
    """
    blob = StoredBlob.objects.select_for_update().filter(pk=blob_id).first()
    if blob is None or Attachment.objects.filter(blob_id=blob_id).exists():
        return False
    storage = files_storage()
    storage.delete(blob.storage_name)
    storage.delete(thumbnail_name(blob.sha256, settings.ENCLAVE_THUMBNAIL_SIZE))
    blob.delete()
    return True


def attachments_rescan(*, uploaded_after: datetime | None = None) -> int:
    """Queue a new scan of every live clean or unscannable file (uploaded after a time).

    For the upgrade to limit-reporting scans: a file an earlier clamd passed as clean without
    reading all of it (an archive past MaxFileSize or MaxRecursion) becomes `failed` on its
    rescan. Files stay as they are until their own scan ends.
    """
    files = Attachment.objects.filter(
        deleted_at__isnull=True, status__in=[AttachmentStatus.CLEAN, AttachmentStatus.FAILED]
    )
    if uploaded_after is not None:
        files = files.filter(created_at__gte=uploaded_after)
    ids = list(files.values_list("pk", flat=True))
    from apps.files.tasks import scan_attachment

    for attachment_id in ids:
        scan_attachment.delay(str(attachment_id))
    return len(ids)


def attachments_rescan_after_signature_update() -> int:
    """Re-scan recent files scanned with an older signature database than clamd runs now."""
    try:
        database = clamd.database_version(
            address=settings.ENCLAVE_CLAMD_ADDRESS, timeout=settings.ENCLAVE_CLAMD_TIMEOUT_SECONDS
        )
    except clamd.ScanFailed:
        logger.warning("clamd unreachable: signature rescan postponed")
        return 0
    since = timezone.now() - timedelta(days=settings.ENCLAVE_FILES_RESCAN_DAYS)
    stale = list(
        Attachment.objects.filter(
            deleted_at__isnull=True,
            created_at__gte=since,
            status__in=[AttachmentStatus.CLEAN, AttachmentStatus.FAILED],
        )
        .exclude(scan_db_version=database)
        .values_list("pk", flat=True)
    )
    from apps.files.tasks import scan_attachment

    for attachment_id in stale:
        scan_attachment.delay(str(attachment_id))
    return len(stale)
