"""REST API v1 for files. Thin: parse, call one service or selector, shape the output.

Downloads re-check access on every request (no signed, shareable URLs): a link copied to an
outsider answers 404, and a member who left a private channel loses its files at once.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import BaseParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.authed import AuthedRequest
from apps.core.api import validated
from apps.core.errors import DomainError, NotFound
from apps.files import selectors, services
from apps.files import serializers as s
from apps.files.encryption import EncryptionKeyUnavailable, StoredFileCorrupt
from apps.files.events import attachment_detail_payload
from apps.files.models import INLINE_TYPES, PDF_TYPE, Attachment, UploadSession
from apps.files.storage import StoredReader, open_stored, stored_header

logger = logging.getLogger(__name__)
# A downloaded file is read, decrypted and sent in blocks of this size (a thread hop each).
STREAM_BLOCK_BYTES = 512 * 1024

# Served as application/octet-stream even as a download: a browser must never render them.
ACTIVE_TYPES = frozenset(
    {"text/html", "image/svg+xml", "text/javascript", "application/xml", "text/xml"}
)
SANDBOX_CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox"
# Browsers refuse to run their PDF viewer in a sandboxed document; PDFs get no scripts of ours
# and no network, but no sandbox.
# The in-app viewer shows a PDF's preview in a frame of our own page: frameable by our origin
# only (FilePreviewApi also says so to browsers that read X-Frame-Options alone).
PDF_CSP = (
    "default-src 'none'; object-src 'self'; img-src 'self' data:; style-src 'unsafe-inline';"
    " frame-ancestors 'self'"
)


def detail(attachment: Attachment, user_id: int) -> dict[str, Any]:
    return dict(
        attachment_detail_payload(attachment, for_uploader=attachment.uploader_id == user_id)
    )


def admin_detail(attachment: Attachment) -> dict[str, Any]:
    return {
        **attachment_detail_payload(attachment, for_uploader=True),
        "scan_signature": attachment.scan_signature,
        "sha256": attachment.blob.sha256,
        "deleted_at": attachment.deleted_at,
    }


class StoredFileResponse(StreamingHttpResponse):
    """Streams `length` bytes of a stored object from `start`, one block at a time, in both
    server modes. Django would read a sync iterator to its end into memory before sending under
    ASGI; here each block is read (and decrypted) in a worker thread just before it is sent."""

    def __init__(self, reader: StoredReader, *, start: int, length: int, **kwargs: Any) -> None:
        self._reader = reader
        self._start = start
        self._length = length
        super().__init__(self._blocks(), **kwargs)
        self["Content-Length"] = str(length)

    def _blocks(self) -> Iterator[bytes]:
        self._reader.seek(self._start)
        left = self._length
        while left > 0:
            block = self._reader.read(min(STREAM_BLOCK_BYTES, left))
            if not block:
                # The object changed under us (shorter than measured): end the body short
                # rather than pad it; the client sees a length mismatch.
                return
            left -= len(block)
            yield block

    async def __aiter__(self) -> AsyncIterator[bytes]:
        blocks = iter(self._blocks())
        while True:
            block = await sync_to_async(_next_block, thread_sensitive=False)(blocks)
            if block is None:
                return
            yield block

    def close(self) -> None:
        self._reader.close()
        super().close()


def _next_block(blocks: Iterator[bytes]) -> bytes | None:
    return next(blocks, None)


def requested_range(header: str | None, size: int) -> tuple[int, int] | bool | None:
    """A single `bytes=` range of the Range header as (start, length); None to send everything
    (no header, several ranges, a unit other than bytes, a malformed one: RFC 9110 lets a server
    ignore Range); False when the range lies outside the file (416)."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, sep, last = header[len("bytes=") :].strip().partition("-")
    if not sep or not (first.isdigit() or (not first and last.isdigit())):
        return None
    if last and not last.isdigit():
        return None
    if not first:  # the last N bytes
        suffix = int(last)
        if suffix == 0:
            return False
        start = max(0, size - suffix)
        return start, size - start
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        return False
    return start, end - start + 1


def serve_stored(
    *, request: Request, storage_name: str, content_type: str, filename: str, inline: bool
) -> HttpResponseBase:
    """A response for a stored object's plaintext, with single byte ranges (Range: 206/416).

    nginx sends it (X-Accel-Redirect) when ENCLAVE_FILES_X_ACCEL is on and the object is stored
    in the clear; an encrypted one always streams through here (nginx would send ciphertext),
    decrypting only the segments the range needs.
    """
    response: HttpResponseBase
    try:
        if settings.ENCLAVE_FILES_X_ACCEL and stored_header(storage_name) is None:
            response = HttpResponse(content_type=content_type)
            prefix = str(settings.ENCLAVE_FILES_X_ACCEL_PREFIX).rstrip("/")
            response["X-Accel-Redirect"] = f"{prefix}/{storage_name}"
        else:
            response = _streamed(request, storage_name=storage_name, content_type=content_type)
    except EncryptionKeyUnavailable as missing:
        logger.error("cannot serve %s: %s", storage_name, missing)
        raise DomainError(
            _("This file cannot be decrypted right now."), code="file_key_unavailable"
        ).with_status(503) from None
    except StoredFileCorrupt as corrupt:
        logger.error("cannot serve %s: %s", storage_name, corrupt)
        raise DomainError(
            _("This file is damaged and cannot be served."), code="file_corrupt"
        ).with_status(500) from None
    response["Content-Disposition"] = (
        content_disposition_header(as_attachment=not inline, filename=filename) or "attachment"
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = (
        PDF_CSP if content_type == "application/pdf" and inline else SANDBOX_CSP
    )
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    # Access is checked on every request: no shared cache may keep a copy.
    response["Cache-Control"] = "private, no-cache"
    return response


def _streamed(request: Request, *, storage_name: str, content_type: str) -> HttpResponseBase:
    reader = open_stored(storage_name)
    size = reader.size
    # If-Range names a version we cannot compare (we send no validators): send it all.
    wanted = (
        None
        if request.headers.get("If-Range")
        else requested_range(request.headers.get("Range"), size)
    )
    if wanted is False:
        reader.close()
        refused = HttpResponse(status=416, content_type=content_type)
        refused["Content-Range"] = f"bytes */{size}"
        return refused
    start, length = wanted if isinstance(wanted, tuple) else (0, size)
    response = StoredFileResponse(
        reader,
        start=start,
        length=length,
        content_type=content_type,
        status=206 if isinstance(wanted, tuple) else 200,
    )
    response["Accept-Ranges"] = "bytes"
    if isinstance(wanted, tuple):
        response["Content-Range"] = f"bytes {start}-{start + length - 1}/{size}"
    return response


class _FileServingView(APIView):
    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # Browsers ask for image/* or */*; errors are still rendered as JSON.
        return super().perform_content_negotiation(request, force=True)


class FileUploadApi(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="files_upload",
        request={"multipart/form-data": s.UploadIn},
        responses={201: s.AttachmentDetailOut},
        summary="Upload a file (multipart); it is `pending` until the virus scan passes",
    )
    def post(self, request: AuthedRequest) -> Response:
        data = validated(s.UploadIn, request.data)
        upload = data["file"]
        attachment = services.attachment_upload(
            uploader=request.user,
            source=upload,
            name=data.get("name") or upload.name or "",
            size=upload.size,
        )
        return Response(detail(attachment, request.user.pk), status=status.HTTP_201_CREATED)


class FileDetailApi(APIView):
    @extend_schema(operation_id="files_retrieve", responses=s.AttachmentDetailOut)
    def get(self, request: AuthedRequest, attachment_id: str) -> Response:
        attachment = selectors.attachment_get(user=request.user, attachment_id=attachment_id)
        return Response(detail(attachment, request.user.pk))

    @extend_schema(operation_id="files_delete", responses={204: None})
    def delete(self, request: AuthedRequest, attachment_id: str) -> Response:
        services.attachment_delete(actor=request.user, attachment_id=attachment_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class FileDownloadApi(_FileServingView):
    @extend_schema(
        operation_id="files_download",
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
        summary="Download a clean file (always as an attachment except images and PDF)",
    )
    def get(self, request: AuthedRequest, attachment_id: str) -> HttpResponseBase:
        attachment = selectors.attachment_for_download(
            user=request.user, attachment_id=attachment_id
        )
        inline = attachment.content_type in INLINE_TYPES
        content_type = attachment.content_type
        if content_type in ACTIVE_TYPES:
            content_type = "application/octet-stream"
        return serve_stored(
            request=request,
            storage_name=attachment.blob.storage_name,
            content_type=content_type,
            filename=attachment.original_name,
            inline=inline and request.query_params.get("download") is None,
        )


class FilePreviewApi(_FileServingView):
    @extend_schema(
        operation_id="files_preview",
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
        summary="Show a clean image or PDF inline (404 no_preview for other types)",
    )
    def get(self, request: AuthedRequest, attachment_id: str) -> HttpResponseBase:
        attachment = selectors.attachment_for_download(
            user=request.user, attachment_id=attachment_id
        )
        if attachment.content_type not in INLINE_TYPES:
            raise NotFound(_("This file has no preview."), code="no_preview")
        response = serve_stored(
            request=request,
            storage_name=attachment.blob.storage_name,
            content_type=attachment.content_type,
            filename=attachment.original_name,
            inline=True,
        )
        if attachment.content_type == PDF_TYPE:
            response["X-Frame-Options"] = "SAMEORIGIN"
        return response


class FileThumbnailApi(_FileServingView):
    @extend_schema(
        operation_id="files_thumbnail",
        responses={(200, "image/png"): OpenApiTypes.BINARY},
        summary="The thumbnail (PNG) of a clean image (404 no_thumbnail until it exists)",
    )
    def get(self, request: AuthedRequest, attachment_id: str) -> HttpResponseBase:
        attachment = selectors.attachment_for_download(
            user=request.user, attachment_id=attachment_id
        )
        if not attachment.thumbnail_name:
            raise NotFound(_("This file has no thumbnail."), code="no_thumbnail")
        stem = attachment.original_name.rsplit(".", 1)[0]
        return serve_stored(
            request=request,
            storage_name=attachment.thumbnail_name,
            content_type="image/png",
            filename=f"{stem}-thumbnail.png",
            inline=True,
        )


class FileRescanApi(APIView):
    @extend_schema(request=None, responses=s.AdminAttachmentOut, summary="Scan again (admins)")
    def post(self, request: AuthedRequest, attachment_id: str) -> Response:
        attachment = services.attachment_rescan(actor=request.user, attachment_id=attachment_id)
        return Response(admin_detail(attachment))


class FileReleaseApi(APIView):
    @extend_schema(
        request=None,
        responses=s.AdminAttachmentOut,
        summary="Release a quarantined or unscannable file as clean (admins; audited)",
    )
    def post(self, request: AuthedRequest, attachment_id: str) -> Response:
        attachment = services.attachment_release(actor=request.user, attachment_id=attachment_id)
        return Response(admin_detail(attachment))


class NewestFirstPagination(CursorPagination):
    page_size = 50
    max_page_size = 200
    page_size_query_param = "limit"
    ordering = "-created_at"


class QuarantineApi(APIView):
    pagination_class = NewestFirstPagination

    @extend_schema(
        operation_id="files_quarantine",
        responses=s.AdminAttachmentOut(many=True),
        summary="Infected and unscannable files (admins)",
    )
    def get(self, request: AuthedRequest) -> Response:
        paginator = self.pagination_class()
        files = selectors.quarantined_files(user=request.user)
        page = paginator.paginate_queryset(files, request) or []
        return paginator.get_paginated_response([admin_detail(a) for a in page])


class UsageApi(APIView):
    @extend_schema(
        operation_id="files_usage", responses=s.UsageOut, summary="Storage per user and channel"
    )
    def get(self, request: AuthedRequest) -> Response:
        usage = selectors.storage_usage(user=request.user)
        return Response(
            {
                "total_bytes": usage.total_bytes,
                "by_user": usage.by_user,
                "by_channel": usage.by_channel,
            }
        )


class ChannelFilesApi(APIView):
    pagination_class = NewestFirstPagination

    @extend_schema(
        operation_id="channel_files_list",
        responses=s.AttachmentDetailOut(many=True),
        parameters=[s.ChannelFilesIn],
        summary="Files shared in a channel, newest first (cursor-paginated)",
    )
    def get(self, request: AuthedRequest, channel_id: int) -> Response:
        query = validated(s.ChannelFilesIn, request.query_params)
        paginator = self.pagination_class()
        files = selectors.channel_files(
            user=request.user, channel_id=channel_id, kind=query.get("type")
        )
        page = paginator.paginate_queryset(files, request) or []
        return paginator.get_paginated_response([detail(a, request.user.pk) for a in page])


def session_payload(session: UploadSession) -> dict[str, Any]:
    return {
        "id": str(session.pk),
        "name": session.original_name,
        "size": session.total_size,
        "chunk_size": session.chunk_size,
        "chunk_count": session.chunk_count,
        "received_chunks": list(session.received_chunks),
        "expires_at": session.expires_at.isoformat(),
    }


class UploadSessionApi(APIView):
    parser_classes = [JSONParser]
    # The announced size is checked up front (apps/core/schema.py adds it to the schema).
    error_responses = {413: "`file_too_large`: `size` is above `ENCLAVE_UPLOAD_MAX_BYTES`."}

    @extend_schema(
        operation_id="uploads_create",
        request=s.UploadSessionIn,
        responses={201: s.UploadSessionOut},
        summary="Start a resumable upload: PUT each chunk, then POST complete",
    )
    def post(self, request: AuthedRequest) -> Response:
        data = validated(s.UploadSessionIn, request.data)
        session = services.upload_session_create(
            uploader=request.user, name=data["name"], size=data["size"]
        )
        return Response(session_payload(session), status=status.HTTP_201_CREATED)


class RawBytesParser(BaseParser):
    """Chunk bodies are raw bytes of any content type; the view reads `request.body`."""

    media_type = "*/*"

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        return {}


class UploadChunkApi(APIView):
    parser_classes = [RawBytesParser]

    @extend_schema(
        operation_id="uploads_put_chunk",
        request={"application/octet-stream": OpenApiTypes.BINARY},
        responses=s.UploadSessionOut,
        summary="Store chunk n (0-based, chunk_size bytes; the last one the rest)",
    )
    def put(self, request: AuthedRequest, session_id: str, index: int) -> Response:
        session = services.upload_session_put_chunk(
            user=request.user, session_id=session_id, index=index, data=request.body
        )
        return Response(session_payload(session))


class UploadCompleteApi(APIView):
    @extend_schema(
        operation_id="uploads_complete",
        request=None,
        responses={201: s.AttachmentDetailOut},
        summary="Assemble the chunks into a pending attachment",
    )
    def post(self, request: AuthedRequest, session_id: str) -> Response:
        attachment = services.upload_session_complete(user=request.user, session_id=session_id)
        return Response(detail(attachment, request.user.pk), status=status.HTTP_201_CREATED)
