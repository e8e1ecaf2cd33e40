"""Exports whose worker died mid-build: found by their heartbeat, built again, failed after
three tries (apps/governance/stalled.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.accounts.models import User
from apps.governance import stalled
from apps.governance.compliance_export import services
from apps.governance.data_export import data_export_build, data_export_request
from apps.governance.models import (
    ComplianceExport,
    ComplianceExportStatus,
    DataExport,
    DataExportStatus,
)
from tests.governance.export_support import export_officer

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def data_export_flag(db: Any) -> None:
    from django.core.cache import cache

    from apps.ops.models import FeatureFlag

    FeatureFlag.objects.create(name="data_export", everyone=True)
    cache.clear()


def killed_mid_build(
    model: type[Any], export_id: int, *, minutes_ago: int, attempts: int = 1
) -> None:
    """What a worker killed after claiming the export leaves behind."""
    model.objects.filter(pk=export_id).update(
        status="running",
        heartbeat_at=timezone.now() - timedelta(minutes=minutes_ago),
        attempts=attempts,
    )


def compliance_export() -> ComplianceExport:
    return services.compliance_export_request(
        actor=export_officer(),
        user_ids=[],
        channel_ids=[],
        start=START,
        end=START + timedelta(days=1),
    )


def test_a_compliance_export_whose_worker_died_is_built_again(
    django_capture_on_commit_callbacks: Any,
) -> None:
    export = compliance_export()
    killed_mid_build(ComplianceExport, export.pk, minutes_ago=16)

    with django_capture_on_commit_callbacks(execute=True):
        handled = stalled.exports_recover_stalled()

    export.refresh_from_db()
    assert handled == 1
    assert export.status == ComplianceExportStatus.READY
    assert export.attempts == 2
    assert export.storage_name


def test_a_running_export_that_still_beats_is_left_alone(
    django_capture_on_commit_callbacks: Any,
) -> None:
    export = compliance_export()
    killed_mid_build(ComplianceExport, export.pk, minutes_ago=14)

    with django_capture_on_commit_callbacks(execute=True):
        handled = stalled.exports_recover_stalled()

    export.refresh_from_db()
    assert handled == 0
    assert export.status == ComplianceExportStatus.RUNNING


def test_the_third_stall_fails_the_export_with_a_reason(
    django_capture_on_commit_callbacks: Any,
) -> None:
    export = compliance_export()
    killed_mid_build(ComplianceExport, export.pk, minutes_ago=30, attempts=stalled.MAX_ATTEMPTS)

    with django_capture_on_commit_callbacks(execute=True):
        stalled.exports_recover_stalled()

    export.refresh_from_db()
    assert export.status == ComplianceExportStatus.FAILED
    assert "stopped 3 times" in export.error
    assert export.finished_at is not None


def test_a_users_stuck_data_export_no_longer_blocks_a_new_request(
    make_user: Callable[..., User], django_capture_on_commit_callbacks: Any
) -> None:
    user = make_user()
    with django_capture_on_commit_callbacks(execute=False):
        export = data_export_request(user=user)
    killed_mid_build(DataExport, export.pk, minutes_ago=60, attempts=stalled.MAX_ATTEMPTS)

    stalled.exports_recover_stalled()
    with django_capture_on_commit_callbacks(execute=False):
        again = data_export_request(user=user)

    export.refresh_from_db()
    assert export.status == DataExportStatus.FAILED
    assert again.pk != export.pk
    assert again.status == DataExportStatus.PENDING


def test_a_data_export_whose_worker_died_is_built_again(
    make_user: Callable[..., User], django_capture_on_commit_callbacks: Any
) -> None:
    user = make_user()
    with django_capture_on_commit_callbacks(execute=False):
        export = data_export_request(user=user)
    killed_mid_build(DataExport, export.pk, minutes_ago=20)

    with django_capture_on_commit_callbacks(execute=True):
        stalled.exports_recover_stalled()

    export.refresh_from_db()
    assert export.status == DataExportStatus.READY
    assert export.attempts == 2


def test_builders_claim_with_a_heartbeat_and_count_their_attempts(
    make_user: Callable[..., User], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        data = data_export_request(user=make_user())
    compliance = compliance_export()

    data_export_build(export_id=data.pk)
    services.compliance_export_build(export_id=compliance.pk)

    for export in (
        DataExport.objects.get(pk=data.pk),
        ComplianceExport.objects.get(pk=compliance.pk),
    ):
        assert export.attempts == 1
        assert export.heartbeat_at is not None
        assert export.status == "ready"


def test_the_heartbeat_writes_at_most_every_beat_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    export = compliance_export()
    ComplianceExport.objects.filter(pk=export.pk).update(status="running", heartbeat_at=None)
    clock = [1000.0]
    monkeypatch.setattr(stalled.time, "monotonic", lambda: clock[0])
    beat = stalled.Heartbeat(ComplianceExport, export.pk)

    beat()
    first = ComplianceExport.objects.get(pk=export.pk).heartbeat_at
    clock[0] += stalled.BEAT_EVERY
    beat()
    second = ComplianceExport.objects.get(pk=export.pk).heartbeat_at

    assert first is None
    assert second is not None
