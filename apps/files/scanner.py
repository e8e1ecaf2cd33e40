"""Can the configured clamd be trusted with an `OK`? Checked with a tiny probe, briefly cached.

clamd, as it ships, answers `OK` for an archive it stopped reading at one of its limits. Only a
clamd that reports exceeded limits (`AlertExceedsMax yes`, see clamd.CLAMD_REQUIRED_SETTINGS)
makes an `OK` mean "read it all and found nothing". `scanner_status()` scans
`clamd.limits_probe()` and says whether it does; the scan service marks nothing clean unless
it does, and the admin and /readyz show the same status.

A trusted status is kept for ENCLAVE_CLAMD_PROBE_CACHE_SECONDS per process and clamd address;
an untrusted one is never kept, so a clamd fixed and restarted is believed at the next scan.
The probe costs about 2 ms of clamd's time.

The reasons stored on a failed attachment (`scan_signature`) start with one of the prefixes
below, and `scan_failure_code` turns them into the stable code its uploader gets.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings

from apps.files import clamd

logger = logging.getLogger(__name__)

# Longest a probe may take: /readyz and the admin wait for it.
PROBE_TIMEOUT_SECONDS = 5.0

# Stored reasons of failed scans (English, for admins and logs), and their codes for uploaders.
LIMIT_EXCEEDED_REASON = "limit exceeded: "
UNVERIFIED_REASON = "clamd does not report exceeded limits (AlertExceedsMax yes is required)"
FAILURE_LIMIT_EXCEEDED = "limit_exceeded"
FAILURE_SCANNER_UNVERIFIED = "scanner_unverified"
FAILURE_SCANNER_UNAVAILABLE = "scanner_unavailable"


@dataclass(frozen=True, slots=True)
class ScannerStatus:
    reachable: bool
    reports_exceeded_limits: bool
    # Why the scanner is not trusted, in English, without its address; empty when it is.
    problem: str

    @property
    def trusted(self) -> bool:
        """clamd answered the probe with an exceeded limit: its `OK`s can make files clean."""
        return self.reachable and self.reports_exceeded_limits


_lock = threading.Lock()
_trusted_until: dict[str, float] = {}


def scanner_status(*, use_cache: bool = True) -> ScannerStatus:
    """The configured clamd's status: probed now, or a trusted result of the last minute."""
    address = settings.ENCLAVE_CLAMD_ADDRESS
    now = time.monotonic()
    if use_cache:
        with _lock:
            if _trusted_until.get(address, 0.0) > now:
                return ScannerStatus(reachable=True, reports_exceeded_limits=True, problem="")
    timeout = min(PROBE_TIMEOUT_SECONDS, settings.ENCLAVE_CLAMD_TIMEOUT_SECONDS)
    try:
        reports = clamd.reports_exceeded_limits(address=address, timeout=timeout)
    except clamd.ScanFailed as failure:
        logger.warning("clamd limits probe got no answer: %s", failure)
        return ScannerStatus(
            reachable=False, reports_exceeded_limits=False, problem="clamd unreachable"
        )
    if not reports:
        logger.error(
            "clamd answered OK for a file beyond its limits: it does not report exceeded "
            "limits, so no file can become clean. Set %s in clamd.conf.",
            ", ".join(f"{name} {value}" for name, value in clamd.CLAMD_REQUIRED_SETTINGS.items()),
        )
        with _lock:
            _trusted_until.pop(address, None)
        return ScannerStatus(
            reachable=True, reports_exceeded_limits=False, problem=UNVERIFIED_REASON
        )
    with _lock:
        _trusted_until[address] = now + settings.ENCLAVE_CLAMD_PROBE_CACHE_SECONDS
    return ScannerStatus(reachable=True, reports_exceeded_limits=True, problem="")


def scanner_status_at_worker_start(**_signal_kwargs: object) -> None:
    """Celery's worker_ready: say at start-up whether this worker's scans can pass files."""
    status = scanner_status(use_cache=False)
    if status.trusted:
        logger.info("clamd reports exceeded limits: scans can pass files as clean")
    else:
        logger.error("virus scanning cannot pass files as clean: %s", status.problem)


def scanner_status_forget() -> None:
    """Drop the cached results (tests; a process that knows clamd changed)."""
    with _lock:
        _trusted_until.clear()


def scan_failure_code(reason: str) -> str:
    """The stable code of a failed scan's stored reason, for the uploader's client."""
    if reason.startswith(LIMIT_EXCEEDED_REASON):
        return FAILURE_LIMIT_EXCEEDED
    if reason.startswith(UNVERIFIED_REASON):
        return FAILURE_SCANNER_UNVERIFIED
    return FAILURE_SCANNER_UNAVAILABLE
