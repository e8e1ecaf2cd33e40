"""Celery tasks for calls: an interface that loads by id and calls one service."""

from __future__ import annotations

from celery import shared_task

from apps.calls import services


@shared_task(name="apps.calls.tasks.expire_ringing_call")
def expire_ringing_call(call_id: int) -> bool:
    return services.call_expire(call_id=call_id)


@shared_task(name="apps.calls.tasks.sweep_calls")
def sweep_calls() -> int:
    return services.calls_sweep()
