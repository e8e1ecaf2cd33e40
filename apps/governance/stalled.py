"""Exports whose worker died: found by their heartbeat, built again, or failed after a few tries.

A compliance export and a personal data export are built by one Celery task each, which marks
the export `running` first. A worker killed in the middle (OOM, a deploy, a host lost) left it
`running` for ever: the compliance officer waited without end, and the user could never ask for
their data again (one data export in progress per user). Now the builder beats a heartbeat
(`Heartbeat`, at most once every `BEAT_EVERY` seconds, between batches and files), and Celery
beat runs `exports_recover_stalled` every few minutes: an export `running` with no heartbeat for
ENCLAVE_EXPORT_STALL_MINUTES goes back to `pending` and is queued again, unless it has already
been tried `MAX_ATTEMPTS` times, then it fails with a reason (the user may ask again).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.governance.compliance_export.models import ComplianceExport
from apps.governance.models import DataExport

logger = logging.getLogger(__name__)

BEAT_EVERY = 30.0
MAX_ATTEMPTS = 3
RUNNING, PENDING, FAILED = "running", "pending", "failed"


class Heartbeat:
    """Call it often while building: it writes `heartbeat_at` at most once every BEAT_EVERY s
    (its own statement, outside any transaction the builder may hold)."""

    def __init__(self, model: type[models.Model], pk: int) -> None:
        self.model = model
        self.pk = pk
        self.last = time.monotonic()

    def __call__(self) -> None:
        now = time.monotonic()
        if now - self.last < BEAT_EVERY:
            return
        self.last = now
        self.model._default_manager.filter(pk=self.pk, status=RUNNING).update(
            heartbeat_at=timezone.now()
        )


def claim_fields() -> dict[str, object]:
    """What a builder writes when it takes a pending export (with `status=running`)."""
    return {"heartbeat_at": timezone.now(), "attempts": models.F("attempts") + 1}


def _requeue(model: type[models.Model], export_id: int) -> None:
    # The builders' modules import this one (their heartbeat): their enqueue, imported late.
    from apps.governance.compliance_export.services import compliance_export_enqueue
    from apps.governance.data_export import data_export_enqueue

    if model is ComplianceExport:
        compliance_export_enqueue(export_id=export_id)
    else:
        data_export_enqueue(export_id=export_id)


def exports_recover_stalled(*, now: datetime | None = None) -> int:
    """Queue again (or fail) every export whose builder stopped beating; the number handled."""
    now = now or timezone.now()
    stalled_before = now - timedelta(minutes=settings.ENCLAVE_EXPORT_STALL_MINUTES)
    handled = 0
    for model in (ComplianceExport, DataExport):
        manager = model._default_manager
        candidates = manager.filter(status=RUNNING, heartbeat_at__lt=stalled_before)
        for export_id in candidates.values_list("pk", flat=True):
            with transaction.atomic():
                export = (
                    manager.select_for_update(skip_locked=True)
                    .filter(pk=export_id, status=RUNNING, heartbeat_at__lt=stalled_before)
                    .first()
                )
                if export is None:
                    continue
                handled += 1
                if export.attempts >= MAX_ATTEMPTS:
                    logger.error(
                        "%s %s stalled %d times: failed", model.__name__, export_id, MAX_ATTEMPTS
                    )
                    manager.filter(pk=export_id).update(
                        status=FAILED,
                        finished_at=now,
                        error=_("The worker building this export stopped %(count)d times.")
                        % {"count": MAX_ATTEMPTS},
                    )
                    continue
                logger.warning("%s %s stalled: queued again", model.__name__, export_id)
                manager.filter(pk=export_id).update(status=PENDING)
                _requeue(model, export_id)
    return handled
