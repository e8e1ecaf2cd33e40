"""Celery tasks of analytics: an interface that calls one service."""

from __future__ import annotations

from celery import shared_task

from apps.analytics import services


@shared_task(name="apps.analytics.tasks.refresh_analytics")
def refresh_analytics() -> int:
    return len(services.analytics_refresh())
