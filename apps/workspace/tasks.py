"""Celery tasks of the workplace: interfaces that call one service."""

from __future__ import annotations

from celery import shared_task

from apps.workspace import digests, reminders


@shared_task(name="apps.workspace.tasks.deliver_due_reminders")
def deliver_due_reminders() -> int:
    """The beat's run (`CELERY_BEAT_SCHEDULE["workspace-reminders"]`): send what is due."""
    return reminders.reminders_deliver_due()


@shared_task(name="apps.workspace.tasks.send_email_digests")
def send_email_digests() -> int:
    """The beat's run (`CELERY_BEAT_SCHEDULE["workspace-email-digests"]`): e-mail what is due."""
    return digests.digests_send_due()
