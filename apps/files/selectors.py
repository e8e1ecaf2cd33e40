"""Reads on files. Every selector runs a fixed number of queries."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum

from apps.accounts.models import User
from apps.chat.permissions import access_channel_read
from apps.files.models import (
    INLINE_IMAGE_TYPES,
    PDF_TYPE,
    Attachment,
    AttachmentStatus,
    StoredBlob,
)
from apps.files.permissions import (
    access_attachment_download,
    access_attachment_read,
    access_files_admin,
)


def attachment_get(*, user: User, attachment_id: uuid.UUID | str) -> Attachment:
    """An attachment the user may see (its status, and details once clean or if theirs)."""
    return access_attachment_read(user=user, attachment_id=attachment_id)


def attachment_for_download(*, user: User, attachment_id: uuid.UUID | str) -> Attachment:
    """A clean attachment the user may download now, with its blob."""
    return access_attachment_download(user=user, attachment_id=attachment_id)


# The kinds of file a channel's file list can be narrowed to (`channel_files(kind=...)`).
FILE_KINDS = ("image", "pdf", "media", "other")


def _kind_filter(kind: str) -> Q:
    """`image`: pictures a browser shows; `pdf`; `media`: either (what the viewer pages
    through, clean only); `other`: everything else."""
    images = Q(content_type__in=INLINE_IMAGE_TYPES)
    pdfs = Q(content_type=PDF_TYPE)
    if kind == "image":
        return images
    if kind == "pdf":
        return pdfs
    if kind == "media":
        return (images | pdfs) & Q(status=AttachmentStatus.CLEAN)
    return ~(images | pdfs)


def channel_files(*, user: User, channel_id: int, kind: str | None = None) -> QuerySet[Attachment]:
    """Files shared in a channel the user may read, newest first (live messages only),
    optionally of one of `FILE_KINDS`."""
    channel, _membership = access_channel_read(user=user, channel_id=channel_id)
    files = Attachment.objects.filter(
        channel=channel,
        deleted_at__isnull=True,
        message__isnull=False,
        message__deleted_at__isnull=True,
    )
    if kind is not None:
        files = files.filter(_kind_filter(kind))
    return files.order_by("-created_at", "-id")


def quarantine_filter() -> Q:
    """What the quarantine holds: every infected file until the retention purge, even one its
    uploader has since removed (the admin still has to see what came in), and the files that
    could not be scanned while they are live."""
    return Q(status=AttachmentStatus.INFECTED) | Q(
        status=AttachmentStatus.FAILED, deleted_at__isnull=True
    )


def quarantined_files(*, user: User) -> QuerySet[Attachment]:
    """Infected and unscannable files, for admins."""
    access_files_admin(user=user)
    return (
        Attachment.objects.filter(quarantine_filter())
        .select_related("blob")
        .order_by("-created_at", "-id")
    )


@dataclass(frozen=True, slots=True)
class StorageUsage:
    total_bytes: int
    by_user: list[dict[str, Any]]
    by_channel: list[dict[str, Any]]


def storage_usage(*, user: User, limit: int = 100) -> StorageUsage:
    """Storage per uploader and per channel (largest first), and what is really stored."""
    access_files_admin(user=user)
    live = Attachment.objects.filter(deleted_at__isnull=True)
    by_user = (
        live.values("uploader_id", "uploader__username")
        .annotate(files=Count("id"), bytes=Sum("size"))
        .order_by("-bytes")[:limit]
    )
    by_channel = (
        live.filter(channel__isnull=False)
        .values("channel_id", "channel__name")
        .annotate(files=Count("id"), bytes=Sum("size"))
        .order_by("-bytes")[:limit]
    )
    total = StoredBlob.objects.aggregate(total=Sum("size"))["total"] or 0
    return StorageUsage(
        total_bytes=int(total),
        by_user=[
            {
                "id": row["uploader_id"],
                "name": row["uploader__username"],
                "files": row["files"],
                "bytes": int(row["bytes"] or 0),
            }
            for row in by_user
        ],
        by_channel=[
            {
                "id": row["channel_id"],
                "name": row["channel__name"] or f"#{row['channel_id']}",
                "files": row["files"],
                "bytes": int(row["bytes"] or 0),
            }
            for row in by_channel
        ],
    )
