"""Prometheus metrics that the code of every app records (`enclave_*`, units in the name).

The metric objects live here, in `core`, because the apps that record them (`chat`, `files`,
the real-time hub) may not import `ops`; `apps.ops.metrics` serves them at `/metrics`, adds
the ones computed at scrape time (queue depth, logged-in users, backups, the database pool)
and records Celery's task outcomes.

Several processes (uvicorn workers, Celery workers) share one set of numbers when
ENCLAVE_METRICS_DIR (or PROMETHEUS_MULTIPROC_DIR) names a directory: the settings export it as
PROMETHEUS_MULTIPROC_DIR before this module is imported, and prometheus-client then keeps every
value in a memory-mapped file per process that a scrape adds up. Without it (the embedded
mode) the values live in this process only.

Processes come and go (a restarted uvicorn worker, a Celery pool child): `install_process_hooks`
(CoreConfig.ready) removes the gauge files of processes that no longer exist when a process
starts and marks the process's own gauges dead when it exits, so a dead worker's open sockets
or pool connections never linger in the sums. Counters and histograms of ended processes stay:
they are totals, and dropping them would make every counter go backwards.

The hot paths (the send batch, the fan-out) record per batch or per bus message, never per
delivered push: a histogram observation costs 3-5 µs, a counter 0.5-1.5 µs.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import math
import os
import re
from bisect import bisect_left
from collections.abc import Sequence

from prometheus_client import Counter, Gauge, Histogram, multiprocess

# --- HTTP (apps.ops.request_observation) -----------------------------------------------------

HTTP_REQUESTS = Counter(
    "enclave_http_requests_total",
    "HTTP requests answered, by URL pattern name (never the raw path), method and status.",
    ["route", "method", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "enclave_http_request_duration_seconds",
    "Time from the request entering Django's middleware to its response, by URL pattern.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

# --- WebSockets and sending (apps.chat.consumers, apps.chat.services) -------------------------

WS_CONNECTIONS = Gauge(
    "enclave_ws_connections",
    "Open WebSockets (accepted and not yet closed), all processes together.",
    multiprocess_mode="livesum",
)
WS_CONNECTIONS_OPENED = Counter(
    "enclave_ws_connections_opened_total", "WebSockets accepted since the start."
)
WS_OPERATIONS = Counter(
    "enclave_ws_operations_total",
    "WebSocket operations answered, by outcome: ok (an ack or pong), refused (an error event "
    "for the client's mistake: bad input, permission, rate) or failed (the server failed: "
    "internal_error, or an exception that ended the socket).",
    ["outcome"],
)
# Bound once: the send path pays one counter increment per operation (~1 µs), no lookup.
WS_OPERATIONS_OK = WS_OPERATIONS.labels("ok")
WS_OPERATIONS_REFUSED = WS_OPERATIONS.labels("refused")
WS_OPERATIONS_FAILED = WS_OPERATIONS.labels("failed")
MESSAGES_SENT = Counter(
    "enclave_messages_sent_total",
    "Messages stored (WebSocket and REST; resends of a stored message are not counted).",
)
SEND_ACK_LATENCY = Histogram(
    "enclave_ws_send_ack_seconds",
    "message.send: from the frame entering the send queue to its batch's commit, after which "
    "its ack is written at once.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0),
)
SEND_BATCH_SIZE = Histogram(
    "enclave_send_batch_messages",
    "message.send operations written together in one batch (one COMMIT).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
SEND_BATCH_DURATION = Histogram(
    "enclave_send_batch_duration_seconds",
    "Time to write one send batch (thread hop, statements, COMMIT).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)

# --- the real-time bus and fan-out (apps.core.runtime.realtime) ------------------------------

REALTIME_BUS_LAG = Histogram(
    "enclave_realtime_bus_lag_seconds",
    "From an event's publication (after its commit) to a process receiving it from the bus "
    "(measured on the first event of each bus message; clocks of different hosts add their skew).",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
REALTIME_FANOUT = Histogram(
    "enclave_realtime_fanout_seconds",
    "Time one process takes to hand one bus message (one or more events) to its local sockets.",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1),
)
REALTIME_DELIVERIES = Counter(
    "enclave_realtime_deliveries_total",
    "Events handed to local sockets (one per event and recipient socket).",
)
REALTIME_EVENTS_RECEIVED = Counter(
    "enclave_realtime_events_received_total", "Events this process received from the bus."
)

# --- files, Celery --------------------------------------------------------------------------

FILE_SCANS = Counter(
    "enclave_file_scans_total",
    "Virus scans of uploaded files by result: clean, infected, or failed (no verdict).",
    ["result"],
)
CELERY_TASKS = Counter(
    "enclave_celery_tasks_total",
    "Celery tasks finished, by task name and outcome (succeeded, failed, retried, rejected).",
    ["task", "outcome"],
)
CELERY_TASK_DURATION = Histogram(
    "enclave_celery_task_duration_seconds",
    "Run time of Celery tasks, by task name.",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0),
)


def observe_many(histogram: Histogram, values: Sequence[float]) -> None:
    """`histogram.observe(v)` for every value, with one update per bucket instead of one per
    value: a send batch's acks in a few counter increments, not one observation each.

    Precondition: `histogram` has no labels (or is a labelled child). Uses prometheus-client's
    bucket values (pinned version; tests/ops/test_metrics.py holds it equal to `observe`).
    """
    if not values:
        return
    bounds: list[float] = histogram._upper_bounds
    counts = [0] * len(bounds)
    total = 0.0
    for value in values:
        if math.isnan(value):
            continue
        counts[bisect_left(bounds, value)] += 1
        total += value
    buckets = histogram._buckets
    for index, count in enumerate(counts):
        if count:
            buckets[index].inc(count)
    histogram._sum.inc(total)


# --- processes that ended (multiprocess mode) -------------------------------------------------

_GAUGE_FILE = re.compile(r"^gauge_[a-z]+_(\d+)\.db$")
_hooks_installed = False


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


def forget_dead_processes(directory: str | None = None) -> list[int]:
    """Remove the gauge files (every multiprocess mode) of processes that no longer exist;
    returns their pids. This process's own files are never touched."""
    directory = directory or multiprocess_dir()
    if not directory:
        return []
    dead: set[int] = set()
    for path in glob.glob(os.path.join(directory, "gauge_*.db")):
        match = _GAUGE_FILE.match(os.path.basename(path))
        if match is None:
            continue
        pid = int(match.group(1))
        if pid == os.getpid() or pid in dead or process_alive(pid):
            continue
        dead.add(pid)
    for pid in dead:
        mark_process_dead(pid, directory)
    return sorted(dead)


def mark_process_dead(pid: int, directory: str | None = None) -> None:
    """prometheus-client's bookkeeping for an ended process (its live gauges), plus its gauges
    of the other modes, which it keeps (a dead worker's last value would stay in max/all)."""
    directory = directory or multiprocess_dir()
    if not directory:
        return
    multiprocess.mark_process_dead(pid, directory)
    for path in glob.glob(os.path.join(directory, f"gauge_*_{pid}.db")):
        if _GAUGE_FILE.match(os.path.basename(path)):
            with contextlib.suppress(FileNotFoundError):  # a concurrent sweep was first
                os.remove(path)


def mark_this_process_dead(**_kwargs: object) -> None:
    """At exit (atexit; Celery's worker_process_shutdown for pool children, which leave with
    os._exit): this process's gauges stop counting at once, not at the next sweep."""
    mark_process_dead(os.getpid())


def install_process_hooks() -> None:
    """In multiprocess mode, once per process: sweep the files of ended processes, and mark
    this process dead when it exits normally (a fork inherits the handler with the pid it
    reads at exit)."""
    global _hooks_installed
    if _hooks_installed or not multiprocess_dir():
        return
    _hooks_installed = True
    forget_dead_processes()
    atexit.register(mark_this_process_dead)
