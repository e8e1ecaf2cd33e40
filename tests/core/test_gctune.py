"""The server process's collector settings (apps/core/runtime/gctune.py)."""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from apps.core.runtime import gctune


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)
    gc.unfreeze()
    if gctune._watch in gc.callbacks:
        gc.callbacks.remove(gctune._watch)


def test_a_server_freezes_the_loaded_app_and_raises_the_thresholds(
    settings: Any, restored_gc: None
) -> None:
    settings.ENCLAVE_GC_THRESHOLDS = (700, 10, 1_000_000)
    settings.ENCLAVE_GC_FULL_SECONDS = 0

    gctune.tune_for_server()

    assert gc.get_threshold() == (700, 10, 1_000_000)
    assert gc.get_freeze_count() > 0
    assert gctune._watch in gc.callbacks


def test_empty_thresholds_leave_the_collector_alone(settings: Any, restored_gc: None) -> None:
    settings.ENCLAVE_GC_THRESHOLDS = ()
    before = gc.get_threshold()

    gctune.tune_for_server()

    assert gc.get_threshold() == before
    assert gctune._watch not in gc.callbacks


def test_a_long_pause_is_logged(caplog: pytest.LogCaptureFixture, monkeypatch: Any) -> None:
    clock = iter([10.0, 10.2])
    monkeypatch.setattr(gctune, "_clock", lambda: next(clock))

    with caplog.at_level(logging.WARNING, logger="enclave.gc"):
        gctune._watch("start", {"generation": 2, "collected": 0})
        gctune._watch("stop", {"generation": 2, "collected": 7})

    assert "generation 2 paused the process for 200 ms (7 collected)" in caplog.text
