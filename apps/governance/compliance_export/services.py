"""Writes of the compliance export: request one (audited), build its ZIP (the Celery task),
record a download (audited), expire old ZIPs, and appoint who may export."""

from __future__ import annotations

import logging
import secrets
import tempfile
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from apps.accounts.audit import audit_record
from apps.accounts.models import User
from apps.chat.models import Channel
from apps.core.errors import InvalidInput
from apps.files.storage import files_storage, save_stored
from apps.governance import stalled
from apps.governance.compliance_export import selectors
from apps.governance.compliance_export.archive import ArchiveWriter
from apps.governance.compliance_export.audit import (
    COMPLIANCE_EXPORT_DOWNLOADED,
    COMPLIANCE_EXPORT_REQUESTED,
    COMPLIANCE_EXPORTER_GRANTED,
    COMPLIANCE_EXPORTER_REVOKED,
)
from apps.governance.compliance_export.models import ComplianceExport, ComplianceExportStatus
from apps.governance.compliance_export.permissions import access_compliance_export_manage

logger = logging.getLogger(__name__)

STORAGE_PREFIX = "compliance-exports"
MAX_SCOPE_IDS = 1000


def _scope_metadata(export: ComplianceExport) -> dict[str, object]:
    return {
        "user_ids": list(export.user_ids),
        "channel_ids": list(export.channel_ids),
        "start": export.start.isoformat(),
        "end": export.end.isoformat(),
    }


@transaction.atomic
def compliance_export_request(
    *,
    actor: User,
    user_ids: list[int],
    channel_ids: list[int],
    start: datetime,
    end: datetime,
) -> ComplianceExport:
    """Ask for the messages of `user_ids` (empty: every sender) in `channel_ids` (empty: every
    channel) sent in [`start`, `end`). The ZIP is built by a Celery task after the commit.
    Audited with the scope."""
    access_compliance_export_manage(user=actor)
    if start >= end:
        raise InvalidInput(
            _("The start of the range must come before its end."),
            code="invalid_compliance_export_range",
        )
    user_ids = sorted(set(user_ids))
    channel_ids = sorted(set(channel_ids))
    if len(user_ids) > MAX_SCOPE_IDS or len(channel_ids) > MAX_SCOPE_IDS:
        raise InvalidInput(
            _("An export names at most %(max)s users and %(max)s channels.")
            % {"max": MAX_SCOPE_IDS},
            code="invalid_compliance_export_scope",
        )
    unknown_users = sorted(
        set(user_ids) - set(User.objects.filter(pk__in=user_ids).values_list("pk", flat=True))
    )
    unknown_channels = sorted(
        set(channel_ids)
        - set(Channel.objects.filter(pk__in=channel_ids).values_list("pk", flat=True))
    )
    if unknown_users or unknown_channels:
        raise InvalidInput(
            _("Some of the users or channels do not exist."),
            code="invalid_compliance_export_scope",
            details={"user_ids": unknown_users, "channel_ids": unknown_channels},
        )
    export = ComplianceExport.objects.create(
        requested_by=actor, user_ids=user_ids, channel_ids=channel_ids, start=start, end=end
    )
    audit_record(
        action=COMPLIANCE_EXPORT_REQUESTED,
        actor=actor,
        target=export,
        metadata=_scope_metadata(export),
    )
    compliance_export_enqueue(export_id=export.pk)
    return export


def compliance_export_enqueue(*, export_id: int) -> None:
    """Build the export in a Celery task once the current transaction commits."""
    from apps.governance.tasks import build_compliance_export

    transaction.on_commit(lambda: build_compliance_export.delay(str(export_id)))


def compliance_export_build(*, export_id: int) -> ComplianceExport | None:
    """Build the export's ZIP into the file storage (the Celery task). An export that is no
    longer waiting (built, or being built by another worker) is left alone; a failure is
    recorded on the export, never half a ZIP. None when the export does not exist."""
    with transaction.atomic():
        export = (
            ComplianceExport.objects.select_for_update(of=("self",))
            .select_related("requested_by")
            .filter(pk=export_id)
            .first()
        )
        if export is None or export.status != ComplianceExportStatus.PENDING:
            return export
        ComplianceExport.objects.filter(pk=export.pk).update(
            status=ComplianceExportStatus.RUNNING, **stalled.claim_fields()
        )
        export.status = ComplianceExportStatus.RUNNING
    beat = stalled.Heartbeat(ComplianceExport, export.pk)
    language = (export.requested_by.language if export.requested_by else "") or (
        settings.LANGUAGE_CODE
    )
    try:
        with tempfile.TemporaryDirectory(prefix="enclave-export-") as workdir:
            zip_path = Path(workdir) / "export.zip"
            with (
                translation.override(language),
                zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as zip_file,
            ):
                writer = ArchiveWriter(zip_file=zip_file, workdir=Path(workdir), language=language)
                for channel in selectors.scope_channels(export=export):
                    writer.begin_channel(channel)
                    for batch in selectors.scope_message_batches(
                        export=export, channel_id=channel.pk
                    ):
                        writer.add_batch(batch)
                        beat()
                    writer.end_channel()
                writer.close(
                    summary={
                        "id": export.pk,
                        "requested_by": export.requested_by.username if export.requested_by else "",
                        "requested_at": export.requested_at.isoformat(),
                        "generated_at": timezone.now().isoformat(),
                        "scope": _scope_metadata(export),
                    }
                )
            name = f"{STORAGE_PREFIX}/{export.pk}-{secrets.token_hex(8)}.zip"
            with zip_path.open("rb") as handle:
                stored_name = save_stored(name, handle)
            size = zip_path.stat().st_size
    except Exception as error:
        logger.exception("compliance export %s failed", export.pk)
        export.status = ComplianceExportStatus.FAILED
        export.error = f"{type(error).__name__}: {error}"[:500]
        export.finished_at = timezone.now()
        export.save(update_fields=["status", "error", "finished_at"])
        return export
    finished = timezone.now()
    export.status = ComplianceExportStatus.READY
    export.storage_name = stored_name
    export.size = size
    export.message_count = writer.message_count
    export.file_count = writer.file_count
    export.finished_at = finished
    export.expires_at = finished + timedelta(hours=settings.ENCLAVE_COMPLIANCE_EXPORT_TTL_HOURS)
    export.save(
        update_fields=[
            "status",
            "storage_name",
            "size",
            "message_count",
            "file_count",
            "finished_at",
            "expires_at",
        ]
    )
    return export


def compliance_export_downloaded(*, actor: User, export: ComplianceExport) -> None:
    """Record that `actor` downloaded the export (the caller checked the access)."""
    audit_record(
        action=COMPLIANCE_EXPORT_DOWNLOADED,
        actor=actor,
        target=export,
        metadata=_scope_metadata(export),
    )


def compliance_exports_expire(*, now: datetime | None = None) -> int:
    """Delete the ZIPs whose time is up (Celery beat, hourly); the export's record stays,
    marked expired. Returns how many expired."""
    now = now or timezone.now()
    storage = files_storage()
    expired = 0
    due = ComplianceExport.objects.filter(
        status=ComplianceExportStatus.READY, expires_at__lte=now
    ).values_list("pk", flat=True)
    for export_id in list(due):
        with transaction.atomic():
            export = ComplianceExport.objects.select_for_update().get(pk=export_id)
            if export.status != ComplianceExportStatus.READY:
                continue
            name = export.storage_name
            export.status = ComplianceExportStatus.EXPIRED
            export.storage_name = ""
            export.save(update_fields=["status", "storage_name"])
        if name:
            storage.delete(name)
        expired += 1
    return expired


@transaction.atomic
def compliance_exporter_set(*, user: User, granted: bool, actor: User | None = None) -> bool:
    """Give `user` the export permission, or take it away (`manage.py compliance_exporter`;
    the operator at the shell is the actor, recorded as the system). Audited when it changes."""
    from django.contrib.auth.models import Permission

    permission = Permission.objects.get(
        content_type__app_label="governance", codename="export_compliance"
    )
    holds_it = user.user_permissions.filter(pk=permission.pk).exists()
    if holds_it == granted:
        return False
    if granted:
        user.user_permissions.add(permission)
    else:
        user.user_permissions.remove(permission)
    audit_record(
        action=COMPLIANCE_EXPORTER_GRANTED if granted else COMPLIANCE_EXPORTER_REVOKED,
        actor=actor,
        target=user,
    )
    return True
