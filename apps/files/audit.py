"""The audit hook for file events (quarantine, release, deletion by someone else).

Writes to the organisation's audit log (`apps.accounts.audit.audit_record`), which is
append-only; the warning log line lets operators alert on quarantines without reading it.
"""

from __future__ import annotations

import logging
from typing import Any

from apps.accounts.audit import audit_record
from apps.accounts.models import User

logger = logging.getLogger("enclave.audit.files")

FILE_QUARANTINED = "file.quarantined"
FILE_RELEASED = "file.released"
FILE_DELETED = "file.deleted"
# The re-encryption of stored files under the active key (key rotation) began / went through
# every object.
FILES_REENCRYPTION_STARTED = "files.reencryption_started"
FILES_REENCRYPTED = "files.reencrypted"


def audit_file_event(
    action: str, *, actor: User | None, attachment_id: object, name: str, **details: Any
) -> None:
    """Record `action` on an attachment; `actor` is None for the scanner."""
    logger.warning(
        "%s attachment=%s actor=%s %s",
        action,
        attachment_id,
        actor.pk if actor is not None else None,
        details,
    )
    audit_record(
        action=action,
        actor=actor,
        target_type="attachment",
        target_id=str(attachment_id),
        target_label=name[:200],
        metadata={key: value for key, value in details.items() if value is not None},
    )


def audit_storage_event(action: str, **details: Any) -> None:
    """Record `action` on the files storage as a whole (key rotation), by the system."""
    logger.warning("%s %s", action, details)
    audit_record(
        action=action,
        actor=None,
        target_type="files_storage",
        target_id="enclave_files",
        target_label="enclave_files",
        metadata={key: value for key, value in details.items() if value is not None},
    )
