"""Backups and restore drills: the reads (for the admin, the metrics and readiness checks)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from apps.ops.models import BackupRun, JobStatus, RestoreDrill


@dataclass(frozen=True)
class JobOutcome:
    """How one finished backup or drill went; `age_seconds` counts from its end."""

    succeeded: bool
    started_at: datetime
    finished_at: datetime
    duration_seconds: float
    age_seconds: float
    error: str


@dataclass(frozen=True)
class BackupStatus:
    """The last finished backup and drill, and the age of the last successful one of each
    (None: there never was one). What a metric exports and an alert compares with a limit."""

    last_backup: JobOutcome | None
    last_successful_backup_age_seconds: float | None
    last_drill: JobOutcome | None
    last_successful_drill_age_seconds: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _outcome(job: BackupRun | RestoreDrill | None, now: datetime) -> JobOutcome | None:
    if job is None or job.finished_at is None:
        return None
    return JobOutcome(
        succeeded=job.status == JobStatus.SUCCEEDED,
        started_at=job.started_at,
        finished_at=job.finished_at,
        duration_seconds=job.duration_seconds or 0.0,
        age_seconds=(now - job.finished_at).total_seconds(),
        error=job.error,
    )


def _age(job: BackupRun | RestoreDrill | None, now: datetime) -> float | None:
    if job is None or job.finished_at is None:
        return None
    return (now - job.finished_at).total_seconds()


def backup_status(*, now: datetime | None = None) -> BackupStatus:
    """Ages and outcomes of the last backup and restore drill (four small indexed reads)."""
    now = now or timezone.now()
    finished_backups = BackupRun.objects.exclude(status=JobStatus.RUNNING).order_by("-finished_at")
    finished_drills = RestoreDrill.objects.exclude(status=JobStatus.RUNNING).order_by(
        "-finished_at"
    )
    return BackupStatus(
        last_backup=_outcome(finished_backups.first(), now),
        last_successful_backup_age_seconds=_age(
            finished_backups.filter(status=JobStatus.SUCCEEDED).first(), now
        ),
        last_drill=_outcome(finished_drills.first(), now),
        last_successful_drill_age_seconds=_age(
            finished_drills.filter(status=JobStatus.SUCCEEDED).first(), now
        ),
    )
