"""Fixtures of the files tests: the throwaway clamd, and uploads through the real services."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from apps.accounts.models import User
from apps.files import services
from apps.files.models import Attachment
from apps.files.scanner import scanner_status_forget
from tests.files.clamd_server import ClamdServer, ClamdServerWithoutLimitAlerts, clamd_installed

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


@pytest.fixture(autouse=True)
def _fresh_scanner_status() -> None:
    """Each test probes its own scanner: no trusted result carries over from another test."""
    scanner_status_forget()


@pytest.fixture(scope="session")
def clamd_server() -> Iterator[ClamdServer]:
    """One clamd for the session (per xdist worker); tests may stop and restart it."""
    if not clamd_installed():
        pytest.skip("[clamav] needs ClamAV's clamd (apt-get install clamav-daemon)")
    server = ClamdServer()
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
def clamd(clamd_server: ClamdServer, settings: Any) -> Iterator[ClamdServer]:
    """The running clamd as this test's scanner (restarted if a test stopped it)."""
    if clamd_server.process is None:
        clamd_server.start()
    settings.ENCLAVE_CLAMD_ADDRESS = clamd_server.address
    settings.ENCLAVE_CLAMD_TIMEOUT_SECONDS = 10.0
    scanner_status_forget()
    yield clamd_server
    if clamd_server.process is None:
        clamd_server.start()


@pytest.fixture(scope="session")
def clamd_server_without_limit_alerts() -> Iterator[ClamdServer]:
    """A second clamd, configured as clamd ships: limits exceeded pass as OK."""
    if not clamd_installed():
        pytest.skip("[clamav] needs ClamAV's clamd (apt-get install clamav-daemon)")
    server = ClamdServerWithoutLimitAlerts()
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
def clamd_without_limit_alerts(
    clamd_server_without_limit_alerts: ClamdServer, settings: Any
) -> ClamdServer:
    """That clamd as this test's scanner."""
    settings.ENCLAVE_CLAMD_ADDRESS = clamd_server_without_limit_alerts.address
    settings.ENCLAVE_CLAMD_TIMEOUT_SECONDS = 10.0
    return clamd_server_without_limit_alerts


@pytest.fixture
def no_clamd(settings: Any, tmp_path: Any) -> None:
    """A scanner address where nothing listens."""
    settings.ENCLAVE_CLAMD_ADDRESS = f"unix://{tmp_path}/no-clamd.sock"


Upload = Callable[..., Attachment]


@pytest.fixture
def upload() -> Upload:
    """Upload bytes through the real service: `upload(user, b"...", "name.txt")`."""

    def make(user: User, data: bytes, name: str = "notes.txt") -> Attachment:
        return services.attachment_upload(uploader=user, source=io.BytesIO(data), name=name)

    return make
