"""Reads for the IT admin's overview (/admin/overview/): one figure per function, each cheap.

Every figure reuses what its owner already offers: readiness is /readyz's checks
(`apps.ops.health`), online users the presence store (`apps.chat.presence`), storage the files
app's selector, backups `apps.ops.backups.selectors.backup_status`, the scanner
`apps.files.scanner`. None of them scans a large table: messages today bisect the primary key
(`apps.chat.selectors.messages_created_since`). `ops_overview` puts them together, each one
on its own (a figure that cannot be read shows as unavailable, the page still opens: the admin
needs it most when something is down), and keeps the result for `OVERVIEW_CACHE_SECONDS` in
the shared cache.
"""

from __future__ import annotations

import logging
import tomllib
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any, TypeVar
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from apps.accounts.models import DirectorySyncRun, User
from apps.ops.backups.selectors import BackupStatus, backup_status
from apps.ops.permissions import access_ops_overview

logger = logging.getLogger(__name__)

OVERVIEW_CACHE_SECONDS = 30
# How many of the largest uploaders the overview lists.
STORAGE_TOP_USERS = 5
# clamd's VERSION command answers within milliseconds; the page does not wait longer than this.
CLAMD_VERSION_TIMEOUT_SECONDS = 2.0
REDIS_TIMEOUT_SECONDS = 2.0
# The release file the deployment writes into the release directory (ansible/roles/enclave_app).
VERSION_FILE = "VERSION"

T = TypeVar("T")


# --- version ------------------------------------------------------------------------------------


def app_version() -> str:
    """The running release: the VERSION file the deployment writes (the bundle's release name,
    commit date and hash), else the version in pyproject.toml (a checkout: `make run`)."""
    base = settings.BASE_DIR
    try:
        release = (base / VERSION_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        release = ""
    if release:
        return release
    try:
        with open(base / "pyproject.toml", "rb") as file:
            return str(tomllib.load(file)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return ""


# --- components (the /readyz checks) ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ComponentHealth:
    name: str  # database, migrations, redis, clamd, celery (apps.ops.health.CHECKS)
    status: str  # ok, failed, not_applicable
    reason: str


def component_health() -> list[ComponentHealth]:
    """Each readiness check's result, the same ones /readyz answers with."""
    from apps.ops.health import readiness

    return [
        ComponentHealth(name=name, status=result.status, reason=result.reason)
        for name, result in readiness().items()
    ]


# --- people and messages ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OnlineUsers:
    online: int  # at least one active tab
    away: int  # every tab idle


def online_users() -> OnlineUsers:
    """Active users with a live tab, from the presence store (Redis, or this process's own in
    the embedded mode): one pipelined read per active user, no scan of Redis's keys."""
    from apps.chat.presence import AWAY, ONLINE, presence_store

    user_ids = list(User.objects.filter(is_active=True).values_list("pk", flat=True))
    statuses = list(presence_store().status_of(user_ids).values()) if user_ids else []
    return OnlineUsers(online=statuses.count(ONLINE), away=statuses.count(AWAY))


def start_of_day(*, now: datetime, zone: zoneinfo.ZoneInfo) -> datetime:
    """Midnight of `now`'s day in `zone` (an aware datetime)."""
    local = timezone.localtime(now, zone)
    return datetime.combine(local.date(), time.min, tzinfo=zone)


def messages_today(*, now: datetime, zone: zoneinfo.ZoneInfo) -> int:
    """Messages created since midnight in `zone` (deleted ones included: they were sent)."""
    from apps.chat.selectors import messages_created_since

    return messages_created_since(since=start_of_day(now=now, zone=zone))


# --- queues -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueDepths:
    applicable: bool  # False: tasks run eagerly, or the broker is not Redis (nothing to read)
    depths: dict[str, int]  # tasks waiting, by queue


def broker_queue_depths() -> dict[str, int] | None:
    """Tasks waiting in the Celery broker's default queue (Redis LLEN of kombu's lists, one
    round trip), or None when the broker is not Redis (no list to measure)."""
    broker = settings.CELERY_BROKER_URL
    if not broker.startswith(("redis://", "rediss://", "unix://")):
        return None
    import redis

    queue = getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery")
    # kombu's Redis transport keeps one list per priority step: "celery", "celery\x06\x163", ...
    keys = [queue, *(f"{queue}\x06\x16{step}" for step in range(1, 10))]
    client = redis.Redis.from_url(
        broker, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
    )
    try:
        with client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.llen(key)
            lengths = pipe.execute()
    finally:
        client.close()
    return {queue: int(sum(lengths))}


def celery_queue_depths() -> QueueDepths:
    """The broker's queue depths; not applicable when tasks run eagerly (the embedded mode)
    or the broker is not Redis."""
    depths = None if settings.CELERY_TASK_ALWAYS_EAGER else broker_queue_depths()
    return QueueDepths(applicable=depths is not None, depths=depths or {})


# --- storage ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StorageSummary:
    total_bytes: int  # on disk, each distinct file once
    top_users: list[dict[str, Any]]  # {"id", "name", "files", "bytes"}, largest first


def storage_summary(*, user: User) -> StorageSummary:
    """What is stored, and who uploaded the most (the files app's selector)."""
    from apps.files.selectors import storage_usage

    usage = storage_usage(user=user, limit=STORAGE_TOP_USERS)
    return StorageSummary(total_bytes=usage.total_bytes, top_users=usage.by_user)


# --- periodic jobs ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BackupsState:
    configured: bool  # a backup key is set (without one no backup can run)
    status: BackupStatus


def backups_state() -> BackupsState:
    """The last backup and restore drill (apps.ops.backups), and whether backups can run."""
    return BackupsState(
        configured=bool(str(getattr(settings, "ENCLAVE_BACKUP_KEY", "")).strip()),
        status=backup_status(),
    )


@dataclass(frozen=True, slots=True)
class SyncRun:
    pk: int
    started_at: datetime
    finished_at: datetime | None
    outcome: str  # running, ok, refused (the safety limit stopped it: nothing changed), failed
    error: str
    created: int
    updated: int
    deactivated: int
    reactivated: int


@dataclass(frozen=True, slots=True)
class DirectorySyncState:
    configured: bool  # ENCLAVE_LDAP_SERVER_URI is set
    last_run: SyncRun | None  # the newest run, finished or not
    last_success_at: datetime | None


def _sync_outcome(run: DirectorySyncRun) -> str:
    if run.finished_at is None:
        return "running"
    if run.ok:
        return "ok"
    return "refused" if run.refused else "failed"


def directory_sync_state() -> DirectorySyncState:
    """The newest directory sync run and when one last succeeded (two indexed look-ups at most:
    runs are few, one an hour)."""
    last = DirectorySyncRun.objects.order_by("-started_at", "-pk").first()
    last_success = (
        DirectorySyncRun.objects.filter(ok=True, finished_at__isnull=False)
        .order_by("-finished_at")
        .values_list("finished_at", flat=True)
        .first()
    )
    return DirectorySyncState(
        configured=bool(settings.ENCLAVE_LDAP["SERVER_URI"]),
        last_run=None
        if last is None
        else SyncRun(
            pk=last.pk,
            started_at=last.started_at,
            finished_at=last.finished_at,
            outcome=_sync_outcome(last),
            error=last.error,
            created=last.created,
            updated=last.updated,
            deactivated=last.deactivated,
            reactivated=last.reactivated,
        ),
        last_success_at=last_success,
    )


# --- scanner ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScannerState:
    reachable: bool
    trusted: bool  # answers the limits probe: its OKs can make files clean
    problem: str  # in English, without the address; empty when trusted
    # clamd's answer to VERSION after the engine: "27480/Mon Dec  1 09:27:02 2025" (database
    # version and date); the bare "ClamAV 1.4.6" when it loaded no official database.
    signatures: str

    @property
    def signature_version(self) -> str:
        version, slash, _date = self.signatures.partition("/")
        return version if slash else ""

    @property
    def signature_date(self) -> str:
        return self.signatures.partition("/")[2]


def scanner_state() -> ScannerState:
    """The scanner's status (the probe /readyz uses, cached the same way) and its signatures."""
    from apps.files import clamd
    from apps.files.scanner import scanner_status

    status = scanner_status()
    signatures = ""
    if status.reachable:
        try:
            signatures = clamd.database_version(
                address=settings.ENCLAVE_CLAMD_ADDRESS, timeout=CLAMD_VERSION_TIMEOUT_SECONDS
            )
        except clamd.ScanFailed as failure:
            logger.warning("overview: clamd did not say its signature version: %s", failure)
    return ScannerState(
        reachable=status.reachable,
        trusted=status.trusted,
        problem=status.problem,
        signatures=signatures,
    )


# --- dashboards ---------------------------------------------------------------------------------

# The dashboards the overview links to: (path under ENCLAVE_GRAFANA_URL, its query, key of the
# label in the template). Provisioned dashboards are tagged "enclave"; the tag search finds
# them whatever their ids.
GRAFANA_DASHBOARDS: tuple[tuple[str, dict[str, str], str], ...] = (
    ("dashboards", {"tag": "enclave"}, "enclave"),
    ("alerting/list", {}, "alerts"),
)


def grafana_links() -> list[tuple[str, str]]:
    """(key, URL) of each Grafana page to link to; none when ENCLAVE_GRAFANA_URL is unset."""
    base = settings.ENCLAVE_GRAFANA_URL.rstrip("/")
    if not base:
        return []
    return [
        (key, f"{base}/{path}" + (f"?{urlencode(query)}" if query else ""))
        for path, query, key in GRAFANA_DASHBOARDS
    ]


# --- the page -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Overview:
    """Everything the overview shows; a figure is None when it could not be read (logged)."""

    generated_at: datetime
    time_zone: str  # "today" is this zone's day
    version: str
    components: list[ComponentHealth] | None
    online_users: OnlineUsers | None
    messages_today: int | None
    queues: QueueDepths | None
    storage: StorageSummary | None
    backups: BackupsState | None
    directory_sync: DirectorySyncState | None
    scanner: ScannerState | None
    grafana_links: list[tuple[str, str]] = field(default_factory=list)


def _read(name: str, read: Callable[[], T]) -> T | None:
    try:
        return read()
    except Exception:  # one unreadable figure must not take the page down with it
        logger.warning("overview: %s could not be read", name, exc_info=True)
        return None


def _zone_of(user: User) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(user.time_zone or settings.TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def _cache_key(zone: zoneinfo.ZoneInfo) -> str:
    return f"ops:overview:v1:{zone.key}"


def ops_overview(*, user: User, now: datetime | None = None, use_cache: bool = True) -> Overview:
    """The IT admin's overview, for the owner and administrators (Forbidden otherwise).

    Kept OVERVIEW_CACHE_SECONDS in the shared cache per time zone (the only input that
    differs between admins), so admins reloading the page cost one cache read; without a
    reachable cache it is computed each time.
    """
    access_ops_overview(user=user)
    zone = _zone_of(user)
    if use_cache:
        cached = _read("the cached overview", lambda: cache.get(_cache_key(zone)))
        if isinstance(cached, Overview):
            return cached
    now = now or timezone.now()
    overview = Overview(
        generated_at=now,
        time_zone=zone.key,
        version=app_version(),
        components=_read("readiness", component_health),
        online_users=_read("online users", online_users),
        messages_today=_read("messages today", lambda: messages_today(now=now, zone=zone)),
        queues=_read("queue depths", celery_queue_depths),
        storage=_read("storage", lambda: storage_summary(user=user)),
        backups=_read("backups", backups_state),
        directory_sync=_read("directory sync", directory_sync_state),
        scanner=_read("scanner", scanner_state),
        grafana_links=grafana_links(),
    )
    if use_cache:
        _read(
            "the overview cache",
            lambda: cache.set(_cache_key(zone), overview, OVERVIEW_CACHE_SECONDS),
        )
    return overview
