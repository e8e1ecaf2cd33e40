"""Reads of the compliance export: the exports and their public shape, and the messages in an
export's scope, in batches of a fixed number of queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypedDict

from django.db.models import Q, QuerySet

from apps.chat.models import Channel, Message, MessageRevision
from apps.files.models import Attachment, AttachmentStatus
from apps.governance.compliance_export.models import ComplianceExport

BATCH_SIZE = 500


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


class ComplianceExportOut(TypedDict):
    id: int
    status: str
    requested_by_id: int | None
    requested_by: str
    requested_at: str
    user_ids: list[int]
    channel_ids: list[int]
    start: str
    end: str
    message_count: int
    file_count: int
    size: int
    finished_at: str | None
    expires_at: str | None
    error: str


def compliance_export_payload(export: ComplianceExport) -> ComplianceExportOut:
    """The public shape of an export (its requester selected)."""
    return {
        "id": export.pk,
        "status": export.status,
        "requested_by_id": export.requested_by_id,
        "requested_by": export.requested_by.username if export.requested_by else "",
        "requested_at": export.requested_at.isoformat(),
        "user_ids": list(export.user_ids),
        "channel_ids": list(export.channel_ids),
        "start": export.start.isoformat(),
        "end": export.end.isoformat(),
        "message_count": export.message_count,
        "file_count": export.file_count,
        "size": export.size,
        "finished_at": _iso(export.finished_at),
        "expires_at": _iso(export.expires_at),
        "error": export.error,
    }


def compliance_exports_list(*, limit: int = 200) -> list[ComplianceExportOut]:
    """The newest exports first (one query)."""
    exports = ComplianceExport.objects.select_related("requested_by")[:limit]
    return [compliance_export_payload(export) for export in exports]


# --- the messages in scope ------------------------------------------------------------------------


def _scope(export: ComplianceExport) -> Q:
    """Every message of the scope, deleted and hidden ones included."""
    scope = Q(created_at__gte=export.start, created_at__lt=export.end)
    if export.channel_ids:
        scope &= Q(channel_id__in=export.channel_ids)
    if export.user_ids:
        scope &= Q(sender_id__in=export.user_ids)
    return scope


def scope_channels(*, export: ComplianceExport) -> QuerySet[Channel]:
    """The channels with at least one message in scope, by id (one query)."""
    channel_ids = Message.objects.filter(_scope(export)).values("channel_id")
    return Channel.objects.filter(pk__in=channel_ids).order_by("pk")


@dataclass(frozen=True, slots=True)
class ExportedAttachment:
    """A file of an exported message; `storage_name` empty when its bytes are not exported
    (deleted with its message, or quarantined as infected)."""

    id: str
    name: str
    content_type: str
    size: int
    status: str
    deleted_at: datetime | None
    storage_name: str


@dataclass(frozen=True, slots=True)
class ExportedMessage:
    message: Message
    revisions: list[MessageRevision] = field(default_factory=list)
    attachments: list[ExportedAttachment] = field(default_factory=list)


def _exported_attachment(attachment: Attachment) -> ExportedAttachment:
    exportable = attachment.deleted_at is None and attachment.status != AttachmentStatus.INFECTED
    return ExportedAttachment(
        id=str(attachment.pk),
        name=attachment.original_name,
        content_type=attachment.content_type,
        size=attachment.size,
        status=attachment.status,
        deleted_at=attachment.deleted_at,
        storage_name=attachment.blob.storage_name if exportable else "",
    )


def scope_message_batches(
    *, export: ComplianceExport, channel_id: int, batch_size: int = BATCH_SIZE
) -> Iterator[list[ExportedMessage]]:
    """The channel's messages in scope, in `seq` order, `batch_size` at a time, each with its
    earlier texts (oldest first) and its files: three queries a batch."""
    after_seq = 0
    while True:
        messages = list(
            Message.objects.filter(_scope(export), channel_id=channel_id, seq__gt=after_seq)
            .select_related("sender")
            .order_by("seq")[:batch_size]
        )
        if not messages:
            return
        after_seq = messages[-1].seq
        ids = [message.pk for message in messages]
        revisions: dict[int, list[MessageRevision]] = defaultdict(list)
        for revision in MessageRevision.objects.filter(message_id__in=ids).order_by(
            "replaced_at", "pk"
        ):
            revisions[revision.message_id].append(revision)
        attachments: dict[int, list[ExportedAttachment]] = defaultdict(list)
        for attachment in (
            Attachment.objects.filter(message_id__in=ids)
            .select_related("blob")
            .order_by("created_at", "pk")
        ):
            assert attachment.message_id is not None  # noqa: S101 (the filter says so)
            attachments[attachment.message_id].append(_exported_attachment(attachment))
        yield [
            ExportedMessage(
                message=message,
                revisions=revisions.get(message.pk, []),
                attachments=attachments.get(message.pk, []),
            )
            for message in messages
        ]
        if len(messages) < batch_size:
            return
