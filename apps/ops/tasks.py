"""Celery tasks of the ops app: interfaces that call one service (scheduled in
CELERY_BEAT_SCHEDULE, config/settings/base.py)."""

from __future__ import annotations

from celery import shared_task

from apps.ops.models import JobTrigger

# Not acknowledged late (the project's default): a worker lost mid-backup must not make another
# worker start the same hours-long job again; the next scheduled run comes anyway, and the
# growing age of the last good backup (backup_status) is what raises the alarm.


@shared_task(name="apps.ops.tasks.backup_task", acks_late=False)
def backup_task() -> str:
    from apps.ops.backups.services import backup_create

    return str(backup_create(trigger=JobTrigger.SCHEDULE).status)


@shared_task(name="apps.ops.tasks.restore_drill_task", acks_late=False)
def restore_drill_task() -> str:
    from apps.ops.backups.services import restore_drill_run

    return str(restore_drill_run(trigger=JobTrigger.SCHEDULE).status)
