"""`/metrics` for Prometheus, and the metrics computed at scrape time or fed by Celery.

The metrics the code records as it runs are defined in apps.core.metrics. Here:

- the endpoint: reachable from ENCLAVE_METRICS_ALLOWED_NETWORKS (default loopback only) or
  with `Authorization: Bearer <ENCLAVE_METRICS_TOKEN>`; anyone else gets 404 (403 for a wrong
  token). A request that came through a proxy (X-Forwarded-For, X-Real-IP or Forwarded) is
  judged by its token only: behind nginx on the same host every client would otherwise look
  like 127.0.0.1.
- multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set from ENCLAVE_METRICS_DIR): a scrape adds up
  the files of every process, and first removes the gauges of processes that have ended (a
  restarted worker's sockets are no longer open); processes also sweep them at start-up and
  mark their own dead at exit (apps.core.metrics.install_process_hooks).
- at scrape time, from shared state, cached ENCLAVE_METRICS_CACHE_SECONDS: the Celery queue
  length (LLEN, Redis brokers only), unexpired sessions, directory syncs by result, backup and
  restore drill ages (apps.ops.backups.selectors.backup_status).
- per process: the PostgreSQL pool's use, sampled every POOL_SAMPLE_SECONDS by a thread.
- Celery: task outcomes and durations (signals), and each task's name and id in its log lines.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from apps.core import logcontext
from apps.core.metrics import (
    CELERY_TASK_DURATION,
    CELERY_TASKS,
    forget_dead_processes,
    mark_this_process_dead,
    multiprocess_dir,
)

logger = logging.getLogger(__name__)

_FORWARDING_HEADERS = ("X-Forwarded-For", "X-Real-IP", "Forwarded")


# --- access ---------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _networks(
    spec: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in spec if item.strip())


def client_in_allowed_networks(request: HttpRequest) -> bool:
    """The peer address is in ENCLAVE_METRICS_ALLOWED_NETWORKS, and no proxy stands between."""
    if any(request.headers.get(header) for header in _FORWARDING_HEADERS):
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(
        address in network
        for network in _networks(tuple(settings.ENCLAVE_METRICS_ALLOWED_NETWORKS))
        if network.version == address.version
    )


def _token_offered(request: HttpRequest) -> str | None:
    scheme, _sep, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip()


def _refused(status: int) -> JsonResponse:
    if status == 403:
        return JsonResponse(
            {
                "code": "forbidden",
                "message": _("This metrics token is not valid."),
                "details": {},
            },
            status=403,
        )
    return JsonResponse(
        {"code": "not_found", "message": _("Not found."), "details": {}}, status=404
    )


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus' text format, for allowed networks or the bearer token (module docstring)."""
    offered = _token_offered(request)
    expected = settings.ENCLAVE_METRICS_TOKEN
    if offered is not None and expected:
        if not hmac.compare_digest(offered.encode(), expected.encode()):
            return _refused(403)
    elif not client_in_allowed_networks(request):
        return _refused(403 if offered is not None else 404)
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)


# --- registry -------------------------------------------------------------------------------


_registry_lock = threading.Lock()
_scrape_collectors_registered = False


def registry() -> CollectorRegistry:
    """What a scrape reads: every process's files in multiprocess mode (plus the scrape-time
    collectors), else this process's default registry (which has them registered once)."""
    global _scrape_collectors_registered
    directory = multiprocess_dir()
    if directory:
        forget_dead_processes(directory)
        sample_database_pool()  # this process's part fresh; the others sample on their own
        scraped = CollectorRegistry()
        multiprocess.MultiProcessCollector(scraped, path=directory)
        for collector in scrape_collectors():
            scraped.register(collector)
        return scraped
    sample_database_pool()
    with _registry_lock:
        if not _scrape_collectors_registered:
            for collector in scrape_collectors():
                REGISTRY.register(collector)
            _scrape_collectors_registered = True
    return REGISTRY


# --- scrape-time collectors -------------------------------------------------------------------


class CachedCollector(Collector):
    """Runs `produce` at most once every ENCLAVE_METRICS_CACHE_SECONDS; a failure exports
    nothing for this scrape (and is logged) instead of failing the whole scrape."""

    def __init__(self, name: str, produce: Callable[[], list[Metric]]) -> None:
        self.name = name
        self.produce = produce
        self.lock = threading.Lock()
        self.cached: list[Metric] = []
        self.expires = 0.0

    def collect(self) -> Iterator[Metric]:
        with self.lock:
            now = time.monotonic()
            if now >= self.expires:
                try:
                    self.cached = self.produce()
                except Exception:
                    logger.warning("metrics: %s could not be read", self.name, exc_info=True)
                    self.cached = []
                self.expires = now + settings.ENCLAVE_METRICS_CACHE_SECONDS
            return iter(list(self.cached))

    def describe(self) -> Iterable[Metric]:
        return ()  # computed at scrape time: nothing to check at registration


def _celery_queue_metrics() -> list[Metric]:
    """LLEN of the broker's queues: only a Redis broker has a list to measure."""
    from apps.ops.selectors import broker_queue_depths

    depths = broker_queue_depths()
    if depths is None:
        return []
    family = GaugeMetricFamily(
        "enclave_celery_queue_length",
        "Tasks waiting in the Celery broker's queue (Redis LLEN), read at scrape time.",
        labels=["queue"],
    )
    for queue, depth in depths.items():
        family.add_metric([queue], float(depth))
    return [family]


def _session_metrics() -> list[Metric]:
    from django.contrib.sessions.models import Session

    family = GaugeMetricFamily(
        "enclave_sessions_active",
        "Unexpired sign-in sessions (logged-in browsers), read at scrape time.",
    )
    family.add_metric([], float(Session.objects.filter(expire_date__gt=timezone.now()).count()))
    return [family]


def _directory_sync_metrics() -> list[Metric]:
    from django.db.models import Count, Max, Q

    from apps.accounts.models import DirectorySyncRun

    finished = DirectorySyncRun.objects.filter(finished_at__isnull=False)
    counts = finished.aggregate(
        runs_ok=Count("pk", filter=Q(ok=True)),
        runs_refused=Count("pk", filter=Q(ok=False, refused=True)),
        runs_failed=Count("pk", filter=Q(ok=False, refused=False)),
        last_ok=Max("finished_at", filter=Q(ok=True)),
    )
    runs = CounterMetricFamily(
        "enclave_ldap_syncs",
        "Directory (LDAP/AD) syncs by result: ok, failed (directory unreadable), refused "
        "(safety limit).",
        labels=["result"],
    )
    for result in ("ok", "failed", "refused"):
        runs.add_metric([result], float(counts[f"runs_{result}"]))
    metrics: list[Metric] = [runs]
    if counts["last_ok"] is not None:
        last = GaugeMetricFamily(
            "enclave_ldap_sync_last_success_timestamp_seconds",
            "When the last successful directory sync finished (Unix time).",
        )
        last.add_metric([], counts["last_ok"].timestamp())
        metrics.append(last)
    return metrics


def _backup_metrics() -> list[Metric]:
    from apps.ops.backups.selectors import backup_status

    status = backup_status()
    age = GaugeMetricFamily(
        "enclave_backup_last_success_age_seconds",
        "Seconds since the last successful backup / restore drill ended (absent: never).",
        labels=["kind"],
    )
    succeeded = GaugeMetricFamily(
        "enclave_backup_last_run_succeeded",
        "Whether the last finished backup / restore drill succeeded (1) or failed (0).",
        labels=["kind"],
    )
    for kind, last_age, last in (
        ("backup", status.last_successful_backup_age_seconds, status.last_backup),
        ("drill", status.last_successful_drill_age_seconds, status.last_drill),
    ):
        if last_age is not None:
            age.add_metric([kind], last_age)
        if last is not None:
            succeeded.add_metric([kind], 1.0 if last.succeeded else 0.0)
    return [age, succeeded]


def _files_encryption_metrics() -> list[Metric]:
    """The last census of the encryption at rest of stored files (counting reads every
    object's header, so it is never done at scrape time)."""
    from apps.files.key_rotation import encryption_last_census

    census = encryption_last_census()
    if census is None:
        return []
    objects = GaugeMetricFamily(
        "enclave_files_stored_objects",
        "Stored file objects by the key id they are encrypted under ('clear': stored "
        "unencrypted, 'unreadable': damaged header), as of the last census "
        "(manage.py files_encryption status, or the end of a re-encryption run).",
        labels=["key_id"],
    )
    for key_id, count in sorted(census["by_key_id"].items()):
        objects.add_metric([key_id], float(count))
    objects.add_metric(["clear"], float(census["clear"]))
    objects.add_metric(["unreadable"], float(census["unreadable"]))
    active = GaugeMetricFamily(
        "enclave_files_not_under_active_key_objects",
        "Stored file objects the re-encryption job still has to bring under the active key "
        "(0: keys other than the active one can be removed), as of the last census.",
    )
    total = sum(census["by_key_id"].values()) + census["clear"] + census["unreadable"]
    under_active = census["by_key_id"].get(census["active_key_id"], 0)
    active.add_metric([], float(total - under_active if census["active_key_id"] else total))
    taken = GaugeMetricFamily(
        "enclave_files_census_timestamp_seconds",
        "When the last census of stored file encryption was taken (Unix time).",
    )
    taken.add_metric([], float(census["at"]))
    return [objects, active, taken]


@lru_cache(maxsize=1)
def scrape_collectors() -> tuple[Collector, ...]:
    return (
        CachedCollector("the Celery queue length", _celery_queue_metrics),
        CachedCollector("the active sessions", _session_metrics),
        CachedCollector("the directory syncs", _directory_sync_metrics),
        CachedCollector("the backup status", _backup_metrics),
        CachedCollector("the stored files' encryption", _files_encryption_metrics),
    )


# --- the PostgreSQL pool, per process -------------------------------------------------------

POOL_SAMPLE_SECONDS = 5.0

DB_POOL_CONNECTIONS = Gauge(
    "enclave_db_pool_connections",
    "PostgreSQL pool connections by state (in_use, idle), all processes together.",
    ["state"],
    multiprocess_mode="livesum",
)
DB_POOL_MAX = Gauge(
    "enclave_db_pool_max_connections",
    "The pools' maximum size (ENCLAVE_DB_POOL_MAX_SIZE per process), all processes together.",
    multiprocess_mode="livesum",
)
DB_POOL_WAITING = Gauge(
    "enclave_db_pool_waiting_requests",
    "Requests waiting for a pool connection, all processes together.",
    multiprocess_mode="livesum",
)
DB_POOL_REQUESTS = Counter("enclave_db_pool_requests_total", "Connections requested from the pool.")
DB_POOL_QUEUED = Counter(
    "enclave_db_pool_queued_requests_total",
    "Connection requests that had to wait because every connection was in use.",
)
DB_POOL_WAIT = Counter(
    "enclave_db_pool_wait_seconds_total", "Time spent waiting for a pool connection."
)
DB_POOL_ERRORS = Counter(
    "enclave_db_pool_errors_total", "Connection requests that failed (time-out, pool closed)."
)

_pool_lock = threading.Lock()
_pool_last: dict[str, int] = {}
_sampler_pid: int | None = None


def _pool() -> Any:
    """Django's pool of the default database if it exists already (never created here)."""
    from django.db import connections

    wrapper = connections["default"]
    if wrapper.vendor != "postgresql":
        return None
    pools = getattr(type(wrapper), "_connection_pools", None) or {}
    return pools.get(wrapper.alias)


def sample_database_pool() -> None:
    """Copy this process's pool statistics (psycopg_pool's get_stats) into the metrics."""
    pool = _pool()
    if pool is None:
        return
    stats = pool.get_stats()
    with _pool_lock:
        size, idle = stats.get("pool_size", 0), stats.get("pool_available", 0)
        DB_POOL_CONNECTIONS.labels("in_use").set(max(0, size - idle))
        DB_POOL_CONNECTIONS.labels("idle").set(idle)
        DB_POOL_MAX.set(stats.get("pool_max", 0))
        DB_POOL_WAITING.set(stats.get("requests_waiting", 0))
        for key, counter, scale in (
            ("requests_num", DB_POOL_REQUESTS, 1.0),
            ("requests_queued", DB_POOL_QUEUED, 1.0),
            ("requests_wait_ms", DB_POOL_WAIT, 0.001),
            ("requests_errors", DB_POOL_ERRORS, 1.0),
        ):
            value = stats.get(key, 0)
            delta = value - _pool_last.get(key, 0)
            if delta > 0:
                counter.inc(delta * scale)
            _pool_last[key] = value


def _sample_forever() -> None:
    while True:
        time.sleep(POOL_SAMPLE_SECONDS)
        try:
            sample_database_pool()
        except Exception:
            logger.warning("metrics: sampling the database pool failed", exc_info=True)


def start_pool_sampler() -> None:
    """A daemon thread per process that samples the pool (also in a forked Celery child)."""
    global _sampler_pid
    if _sampler_pid == os.getpid():
        return
    if not settings.DATABASES["default"].get("OPTIONS", {}).get("pool"):
        return
    _sampler_pid = os.getpid()
    _pool_last.clear()
    threading.Thread(target=_sample_forever, name="enclave-metrics-pool", daemon=True).start()


# --- Celery -----------------------------------------------------------------------------------

_task_started: dict[str, tuple[float, Any]] = {}


def _task_prerun(task_id: str = "", task: Any = None, **_kwargs: Any) -> None:
    name = getattr(task, "name", "") or "unknown"
    token = logcontext.bind(task_name=name, task_id=task_id)
    _task_started[task_id] = (time.perf_counter(), token)


def _task_postrun(task_id: str = "", task: Any = None, **_kwargs: Any) -> None:
    started = _task_started.pop(task_id, None)
    if started is None:
        return
    began, token = started
    CELERY_TASK_DURATION.labels(getattr(task, "name", "") or "unknown").observe(
        time.perf_counter() - began
    )
    # Reset from another context (an eager task inside a request) fails harmlessly.
    with contextlib.suppress(ValueError):
        logcontext.reset(token)


def _outcome(outcome: str) -> Callable[..., None]:
    def record(sender: Any = None, **_kwargs: Any) -> None:
        # The sender is the task, except for task_rejected (a message no task took).
        name = getattr(sender, "name", None)
        CELERY_TASKS.labels(name if isinstance(name, str) else "unknown", outcome).inc()

    return record


_celery_receivers: list[Callable[..., None]] = []


def install_celery_signals() -> None:
    """Task outcomes, durations and the task's log context (idempotent)."""
    if _celery_receivers:
        return
    from celery import signals

    receivers = {
        signals.task_prerun: _task_prerun,
        signals.task_postrun: _task_postrun,
        signals.task_success: _outcome("succeeded"),
        signals.task_failure: _outcome("failed"),
        signals.task_retry: _outcome("retried"),
        signals.task_rejected: _outcome("rejected"),
    }
    for signal, receiver in receivers.items():
        signal.connect(receiver, weak=False)
        _celery_receivers.append(receiver)
    # A forked worker child starts its own pool sampler.
    signals.worker_process_init.connect(lambda **_kwargs: start_pool_sampler(), weak=False)
    # A pool child leaves with os._exit (no atexit): its gauges are marked dead here.
    signals.worker_process_shutdown.connect(mark_this_process_dead, weak=False)
