"""Garbage-collector settings for the long-lived app server processes.

Every open socket keeps objects alive for hours (its consumer, scope, user), and CPython's
full (generation 2) collection walks all of them: with 2,000 sockets it stopped the process
for 100-340 ms several times a minute under load (measured with `gc.callbacks`), which was
the whole p99 tail of message delivery. So the server process:

- freezes what exists once the application is loaded (`gc.freeze()`: Django, the URL conf,
  the models: never collected, never walked again);
- collects the young generations as CPython does, but never generation 2 on its own
  (`ENCLAVE_GC_THRESHOLDS`, default 700,10,1000000 instead of CPython's 700,10,10; larger
  young generations were worse: 50000,20 gave 50-500 ms pauses of generations 0 and 1);
- runs the full collection itself every `ENCLAVE_GC_FULL_SECONDS` (600) instead, so cyclic
  garbage that reached the old generation is still freed: one pause per ten minutes instead
  of several a minute;
- logs every collection that stops the process for longer than 50 ms, so it shows in the logs.
"""

from __future__ import annotations

import gc
import logging
import threading
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
    every = settings.ENCLAVE_GC_FULL_SECONDS
    if every > 0 and not any(t.name == "enclave-gc" for t in threading.enumerate()):
        collector = threading.Thread(
            target=_collect_every, args=(every,), name="enclave-gc", daemon=True
        )
        collector.start()


def _collect_every(seconds: float) -> None:
    while True:
        time.sleep(seconds)
        gc.collect()
