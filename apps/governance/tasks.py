"""Celery tasks for governance: an interface that calls one service."""

from __future__ import annotations

from celery import shared_task

from apps.governance import services


@shared_task(name="apps.governance.tasks.apply_retention")
def apply_retention() -> int:
    """Celery beat runs this every ENCLAVE_RETENTION_SCHEDULE_SECONDS; a run does a bounded
    amount of work (batches of ENCLAVE_RETENTION_BATCH_SIZE, at most
    ENCLAVE_RETENTION_MAX_BATCHES of them) and the next run goes on where it stopped."""
    return services.retention_apply().messages_deleted


@shared_task(name="apps.governance.tasks.build_compliance_export")
def build_compliance_export(export_id: str) -> None:
    """Build one compliance export's ZIP (enqueued on commit by its request)."""
    from apps.governance.compliance_export.services import compliance_export_build

    compliance_export_build(export_id=int(export_id))


@shared_task(name="apps.governance.tasks.expire_compliance_exports")
def expire_compliance_exports() -> int:
    """Celery beat runs this hourly: the ZIPs older than ENCLAVE_COMPLIANCE_EXPORT_TTL_HOURS go."""
    from apps.governance.compliance_export.services import compliance_exports_expire

    return compliance_exports_expire()


@shared_task(name="apps.governance.tasks.build_data_export", acks_late=True)
def build_data_export(export_id: int) -> str | None:
    """Build one user's data export (enqueued on commit by `data_export_request`)."""
    from apps.governance.data_export import data_export_build

    export = data_export_build(export_id=export_id)
    return export.status if export is not None else None


@shared_task(name="apps.governance.tasks.purge_expired_data_exports")
def purge_expired_data_exports() -> int:
    """Celery beat, hourly: delete the ZIPs of data exports past ENCLAVE_DATA_EXPORT_TTL_HOURS."""
    from apps.governance.data_export import data_exports_purge_expired

    return data_exports_purge_expired()


@shared_task(name="apps.governance.tasks.recover_stalled_exports")
def recover_stalled_exports() -> int:
    """Celery beat, every 5 minutes: exports whose builder died are built again (or failed)."""
    from apps.governance.stalled import exports_recover_stalled

    return exports_recover_stalled()
