"""Readiness: can this process serve? Each check answers ok, failed (with why) or not applicable.

`/healthz` (apps.core) is liveness: the process runs and reaches its database. `/readyz` is
readiness, for load balancers and the deployment's health gate: the database answers, every
migration the code knows is applied, Redis answers (when configured), clamd answers and reports
exceeded limits (else no upload can become clean), and a Celery worker answers (when tasks go
through a broker). The reasons are fixed English sentences: no address, user name or password
reaches the (anonymous) caller; the logs carry the details.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from apps.core.queries import database_ping

logger = logging.getLogger(__name__)

REDIS_TIMEOUT_SECONDS = 2.0
CELERY_PING_TIMEOUT_SECONDS = 1.0
# "All migrations applied" is believed this long per process (loading the migration graph is
# the dearest check); a missing migration is looked for again on every call.
MIGRATIONS_CACHE_SECONDS = 60.0

CheckStatus = Literal["ok", "failed", "not_applicable"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    status: CheckStatus
    reason: str = ""

    def as_dict(self) -> dict[str, str]:
        return (
            {"status": self.status, "reason": self.reason}
            if self.reason
            else {"status": self.status}
        )


OK = CheckResult("ok")


def check_database() -> CheckResult:
    database_ping()
    return OK


_migrations_lock = threading.Lock()
_migrations_applied_until = 0.0


def check_migrations() -> CheckResult:
    global _migrations_applied_until
    now = time.monotonic()
    with _migrations_lock:
        if _migrations_applied_until > now:
            return OK
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        names = [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        return CheckResult("failed", f"{len(names)} unapplied migration(s): {shown}")
    with _migrations_lock:
        _migrations_applied_until = now + MIGRATIONS_CACHE_SECONDS
    return OK


def check_redis() -> CheckResult:
    import redis

    urls = {url for url in (settings.REDIS_URL, settings.ENCLAVE_REALTIME_URL) if url}
    if not urls:
        return CheckResult("not_applicable", "no Redis configured (embedded mode)")
    for url in sorted(urls):
        client = redis.Redis.from_url(
            url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
        try:
            client.ping()
        except redis.RedisError as error:
            logger.warning("readiness: Redis did not answer: %s", error)
            return CheckResult("failed", "Redis did not answer")
        finally:
            client.close()
    return OK


def check_clamd() -> CheckResult:
    from apps.files.scanner import scanner_status

    status = scanner_status()
    if status.trusted:
        return OK
    return CheckResult("failed", status.problem)


def check_celery() -> CheckResult:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return CheckResult("not_applicable", "tasks run in the calling process (eager)")
    from celery import current_app

    replies = current_app.control.ping(timeout=CELERY_PING_TIMEOUT_SECONDS, limit=1)
    if not replies:
        return CheckResult("failed", "no Celery worker answered")
    return OK


CHECKS: dict[str, Callable[[], CheckResult]] = {
    "database": check_database,
    "migrations": check_migrations,
    "redis": check_redis,
    "clamd": check_clamd,
    "celery": check_celery,
}


def readiness() -> dict[str, CheckResult]:
    """Every check's result, each run even when another failed (the answer names them all)."""
    results: dict[str, CheckResult] = {}
    for name, check in CHECKS.items():
        try:
            results[name] = check()
        except Exception as error:  # any failure of a check means "not ready"
            logger.warning("readiness check %s failed", name, exc_info=True)
            results[name] = CheckResult("failed", f"{name} check raised {type(error).__name__}")
    return results


def readiness_forget() -> None:
    """Drop the cached "migrations applied" (tests)."""
    global _migrations_applied_until
    with _migrations_lock:
        _migrations_applied_until = 0.0
