"""Celery tasks of accounts: interfaces that call one service (docs/architecture/README.md)."""

from __future__ import annotations

import logging

from celery import shared_task

from apps.accounts.ldap_sync import (
    DirectorySyncRefused,
    DirectoryUnavailable,
    directory_config,
    directory_sync,
)

logger = logging.getLogger(__name__)


@shared_task(name="apps.accounts.tasks.directory_sync_task")
def directory_sync_task() -> dict[str, int]:
    """Periodic directory sync (beat: ENCLAVE_LDAP_SYNC_INTERVAL_MINUTES). Returns counts."""
    if not directory_config().enabled:
        return {}
    try:
        result = directory_sync()
    except DirectoryUnavailable as exc:
        # Logged, and recorded as a failed run; the next beat tries again.
        logger.error("directory sync failed: %s", exc.message)
        return {"failed": 1}
    except DirectorySyncRefused as exc:
        # Recorded as a refused run; repeats every beat until an administrator looks.
        logger.error("directory sync refused: %s", exc.message)
        return {"refused": 1}
    for line in result.lines():
        logger.info("directory sync: %s", line)
    return {
        "created": len(result.created),
        "updated": len(result.updated),
        "deactivated": len(result.deactivated),
        "reactivated": len(result.reactivated),
    }
