"""Garbage-collector settings for the long-lived app server processes.

Every open socket keeps objects alive for hours (its consumer, scope, user), and CPython's
full (generation 2) collection walks all of them: with 2,000 sockets it stopped the process
for 100-340 ms several times a minute under load (measured with `gc.callbacks`), which was
the whole p99 tail of message delivery. So the server process:

- freezes what exists once the application is loaded (`gc.freeze()`: Django, the URL conf,
  the models: never collected, never walked again);
- collects the young generations less often and generation 2 rarely
  (`ENCLAVE_GC_THRESHOLDS`, default 50000,20,100 instead of CPython's 700,10,10; cycles are
  still collected, the young ones as before; empty = leave the collector alone);
- logs every collection that stops the process for longer than 50 ms, so it shows in the logs.
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

from django.conf import settings

logger = logging.getLogger("enclave.gc")
SLOW_MS = 50.0
_clock = time.perf_counter  # tests replace this one, not the process-wide clock
_started = [0.0]


def _watch(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0] = _clock()
        return
    paused = (_clock() - _started[0]) * 1000
    if paused > SLOW_MS:
        logger.warning(
            "garbage collection of generation %d paused the process for %.0f ms (%d collected)",
            info["generation"],
            paused,
            info["collected"],
        )


def tune_for_server() -> None:
    """Call once, after the application is loaded, in a server process. Nothing is changed
    when ENCLAVE_GC_THRESHOLDS is empty (the test settings: pytest imports the ASGI app)."""
    thresholds = settings.ENCLAVE_GC_THRESHOLDS
    if not thresholds:
        return
    gc.set_threshold(*thresholds)
    gc.collect()
    gc.freeze()
    if _watch not in gc.callbacks:
        gc.callbacks.append(_watch)
