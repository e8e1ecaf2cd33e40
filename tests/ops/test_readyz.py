"""/readyz: the database, migrations, Redis, clamd (and that it reports exceeded limits), Celery.

The clamd checks use the suite's throwaway clamds (tests/files/clamd_server.py): one configured
as Enclave requires, one as clamd ships (limits pass silently).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse, urlunparse

import pytest
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.db.utils import OperationalError
from django.test import Client

from apps.files.scanner import scanner_status_forget
from apps.ops import health
from tests.conftest import REDIS_TEST_URL
from tests.files.clamd_server import (
    ClamdServer,
    ClamdServerWithoutLimitAlerts,
    clamd_installed,
)

READYZ = "/readyz"


@pytest.fixture(autouse=True)
def _fresh_checks() -> Iterator[None]:
    scanner_status_forget()
    health.readiness_forget()
    yield
    scanner_status_forget()
    health.readiness_forget()


@pytest.fixture(scope="module")
def good_clamd() -> Iterator[ClamdServer]:
    if not clamd_installed():
        pytest.skip("[clamav] needs ClamAV's clamd (apt-get install clamav-daemon)")
    server = ClamdServer()
    server.start()
    yield server
    server.cleanup()


@pytest.fixture(scope="module")
def silent_clamd() -> Iterator[ClamdServer]:
    if not clamd_installed():
        pytest.skip("[clamav] needs ClamAV's clamd (apt-get install clamav-daemon)")
    server = ClamdServerWithoutLimitAlerts()
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
def scanner(good_clamd: ClamdServer, settings: Any) -> ClamdServer:
    settings.ENCLAVE_CLAMD_ADDRESS = good_clamd.address
    return good_clamd


def _readyz() -> tuple[int, dict[str, Any]]:
    response = Client().get(READYZ)  # anonymous, like a load balancer
    return response.status_code, response.json()


@pytest.mark.clamav
@pytest.mark.django_db
@pytest.mark.usefixtures("scanner")
def test_ready_when_every_check_passes() -> None:
    status, body = _readyz()

    assert (status, body["status"]) == (200, "ready"), body
    checks = body["checks"]
    assert set(checks) == {"database", "migrations", "redis", "clamd", "celery"}
    assert checks["database"] == checks["migrations"] == checks["clamd"] == {"status": "ok"}
    assert checks["celery"]["status"] == "not_applicable"  # tasks run eagerly in tests
    assert "failed" not in body


@pytest.mark.clamav
@pytest.mark.django_db
@pytest.mark.usefixtures("scanner")
def test_a_failing_database_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable(*args: object, **kwargs: object) -> None:
        raise OperationalError('connection to server at "db.internal" failed: password ...')

    monkeypatch.setattr(connection, "cursor", unreachable)

    status, body = _readyz()

    assert (status, body["status"]) == (503, "not_ready")
    assert "database" in body["failed"]
    assert body["checks"]["database"]["status"] == "failed"
    assert "OperationalError" in body["checks"]["database"]["reason"]
    assert "db.internal" not in str(body)
    assert "password" not in str(body)


@pytest.mark.clamav
@pytest.mark.django_db
def test_a_clamd_that_does_not_report_exceeded_limits_is_not_ready(
    silent_clamd: ClamdServer, settings: Any
) -> None:
    settings.ENCLAVE_CLAMD_ADDRESS = silent_clamd.address

    status, body = _readyz()

    assert (status, body["failed"]) == (503, ["clamd"])
    assert "does not report exceeded limits" in body["checks"]["clamd"]["reason"]


@pytest.mark.django_db
def test_an_unreachable_clamd_is_not_ready(settings: Any, tmp_path: Any) -> None:
    settings.ENCLAVE_CLAMD_ADDRESS = f"unix://{tmp_path}/no-clamd.sock"

    status, body = _readyz()

    assert (status, body["failed"]) == (503, ["clamd"])
    assert body["checks"]["clamd"] == {"status": "failed", "reason": "clamd unreachable"}
    assert str(tmp_path) not in str(body)


@pytest.mark.clamav
@pytest.mark.django_db
@pytest.mark.usefixtures("scanner")
def test_an_unapplied_migration_is_not_ready() -> None:
    applied = MigrationRecorder.Migration.objects.filter(app="files").order_by("-id").first()
    assert applied is not None
    applied.delete()  # rolled back with the test

    status, body = _readyz()

    assert (status, body["failed"]) == (503, ["migrations"])
    assert f"files.{applied.name}" in body["checks"]["migrations"]["reason"]


@pytest.mark.clamav
@pytest.mark.django_db
@pytest.mark.usefixtures("scanner")
def test_an_unreachable_redis_is_not_ready_and_its_address_is_not_told(settings: Any) -> None:
    settings.REDIS_URL = "redis://:s3cret@127.0.0.1:1/0"

    status, body = _readyz()

    assert (status, body["failed"]) == (503, ["redis"])
    assert body["checks"]["redis"] == {"status": "failed", "reason": "Redis did not answer"}
    assert "s3cret" not in str(body)


@pytest.mark.redis
@pytest.mark.clamav
@pytest.mark.django_db
@pytest.mark.usefixtures("scanner")
def test_a_reachable_redis_is_ready(settings: Any) -> None:
    settings.REDIS_URL = REDIS_TEST_URL

    status, body = _readyz()

    assert status == 200, body
    assert body["checks"]["redis"] == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_needs_no_sign_in_and_no_second_factor(
    settings: Any, make_user: Any, tmp_path: Any
) -> None:
    from apps.accounts.models import OrganizationSettings

    settings.ENCLAVE_CLAMD_ADDRESS = f"unix://{tmp_path}/no-clamd.sock"
    OrganizationSettings.objects.update_or_create(
        pk=1, defaults={"two_factor_required_for": "everyone"}
    )
    client = Client()
    client.force_login(make_user())

    response = client.get(READYZ)

    assert response.status_code == 503  # answered (not a redirect to the 2FA set-up)
    assert response.json()["failed"] == ["clamd"]


def _own_redis_database() -> str:
    """The test Redis, in this run's own database (as config/settings/test.py picks it): worker
    pings are broadcast per database, so two suites running at once never answer each other."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or "0"
    number = int(worker) + int(os.environ.get("ENCLAVE_TEST_REDIS_OFFSET", "0"))
    return urlunparse(urlparse(REDIS_TEST_URL)._replace(path=f"/{1 + number % 15}"))


@pytest.fixture
def celery_through_redis(settings: Any) -> Iterator[Any]:
    """A Celery app with the test Redis as broker as the current app; tasks not eager.

    Both the current app (this thread's) and the default app (every other thread's) are put
    back: celery.contrib.testing's `start_worker` makes its app the default and never undoes
    it, and later tests' threads (an upload in tests/files/test_blob_purge.py) would send
    their tasks to this closed app instead of running them eagerly.
    """
    from celery import Celery, _state, current_app

    previous = current_app._get_current_object()
    previous_default = _state.default_app
    app = Celery("enclave-readyz-test", broker=_own_redis_database(), set_as_current=True)
    settings.CELERY_TASK_ALWAYS_EAGER = False
    try:
        yield app
    finally:
        previous.set_current()
        _state.set_default_app(previous_default)
        app.close()


@pytest.mark.redis
@pytest.mark.django_db
def test_celery_without_a_worker_is_not_ready(celery_through_redis: Any) -> None:
    status, body = _readyz()

    assert status == 503
    assert "celery" in body["failed"]
    assert body["checks"]["celery"] == {"status": "failed", "reason": "no Celery worker answered"}


@pytest.mark.redis
@pytest.mark.django_db
def test_celery_with_a_worker_is_ready(celery_through_redis: Any) -> None:
    from celery.contrib.testing.worker import start_worker

    with start_worker(celery_through_redis, perform_ping_check=False, pool="solo"):
        # The worker listens for broadcasts a moment after it starts.
        deadline = time.monotonic() + 10
        while not celery_through_redis.control.ping(timeout=0.2) and time.monotonic() < deadline:
            pass
        result = health.check_celery()

    assert result == health.OK
