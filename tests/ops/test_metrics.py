"""/metrics: what it serves after real traffic, who may read it, and several processes added up."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.urls import resolve
from django.utils import timezone
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.parser import text_string_to_metric_families

from apps.accounts.models import DirectorySyncRun, User
from apps.chat.models import Channel
from apps.core.metrics import observe_many
from apps.ops.models import BackupRun, JobStatus
from tests.conftest import REDIS_TEST_URL
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "metrics-token-0123456789abcdef"


@pytest.fixture(autouse=True)
def _metrics_settings(settings: Any) -> None:
    settings.ENCLAVE_METRICS_TOKEN = TOKEN
    settings.ENCLAVE_METRICS_ALLOWED_NETWORKS = ["127.0.0.1/32", "::1/128"]
    settings.ENCLAVE_METRICS_CACHE_SECONDS = 0  # every scrape reads the database afresh


def scrape(client: Client | None = None, **headers: Any) -> dict[tuple[str, frozenset[Any]], float]:
    """Every sample of /metrics as {(name, labels): value}."""
    response = (client or Client()).get("/metrics", **headers)
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/plain")
    return parse(response.content.decode())


def parse(text: str) -> dict[tuple[str, frozenset[Any]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, frozenset[Any]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


# --- the batch observation -------------------------------------------------------------------


def test_observe_many_equals_one_observation_per_value() -> None:
    registry = CollectorRegistry()
    one_by_one = Histogram("a_seconds", "a", buckets=(0.01, 0.1, 1.0), registry=registry)
    batched = Histogram("b_seconds", "b", buckets=(0.01, 0.1, 1.0), registry=registry)
    values = [0.0, 0.01, 0.010001, 0.05, 0.1, 0.5, 1.0, 7.0, 0.003]
    for item in values:
        one_by_one.observe(item)
    observe_many(batched, values)
    observe_many(batched, [])

    samples = {
        (sample.name.replace("b_seconds", "a_seconds"), sample.labels.get("le")): sample.value
        for family in registry.collect()
        if family.name == "b_seconds"
        for sample in family.samples
        if not sample.name.endswith("_created")
    }
    expected = {
        (sample.name, sample.labels.get("le")): sample.value
        for family in registry.collect()
        if family.name == "a_seconds"
        for sample in family.samples
        if not sample.name.endswith("_created")
    }
    assert samples == expected
    assert expected[("a_seconds_count", None)] == len(values)


# --- access -----------------------------------------------------------------------------------


def test_loopback_reads_metrics_without_a_token(db: Any) -> None:
    samples = scrape()
    assert any(name.startswith("enclave_") for name, _labels in samples)


def test_another_network_without_a_token_gets_404(db: Any) -> None:
    response = Client().get("/metrics", REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert b"enclave_" not in response.content


def test_another_network_with_the_token_reads_metrics(db: Any) -> None:
    samples = scrape(REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert samples


def test_a_wrong_token_gets_403_even_from_loopback(db: Any) -> None:
    response = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-token")
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


def test_a_token_is_refused_when_none_is_configured(db: Any, settings: Any) -> None:
    settings.ENCLAVE_METRICS_TOKEN = ""
    response = Client().get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION="Bearer ")
    assert response.status_code == 403


def test_a_proxied_request_from_loopback_needs_the_token(db: Any) -> None:
    # Behind nginx on the same host every client's request arrives from 127.0.0.1.
    response = Client().get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert response.status_code == 404
    assert scrape(HTTP_X_FORWARDED_FOR="203.0.113.9", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")


def test_configured_networks_are_allowed(db: Any, settings: Any) -> None:
    settings.ENCLAVE_METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8", "fd00::/8"]
    assert scrape(REMOTE_ADDR="10.1.2.3")
    assert scrape(REMOTE_ADDR="fd00::5")
    assert Client().get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404


def test_a_signed_in_user_is_no_exception(db: Any, user: User) -> None:
    client = Client()
    client.force_login(user)
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 404


# --- what it serves after real traffic --------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_metrics_count_a_rest_request_and_a_websocket_send(
    ws_connect: Any, make_user: Callable[..., User], make_channel: Callable[..., Channel]
) -> None:
    alice = await sync_to_async(make_user)()
    channel = await sync_to_async(make_channel)(members=(alice,))
    path = f"/api/v1/channels/{channel.pk}/"
    route = resolve(path).view_name
    before = await sync_to_async(scrape)()

    def rest_request() -> int:
        client = Client()
        client.force_login(alice)
        return client.get(path).status_code

    assert await sync_to_async(rest_request)() == 200
    socket = await ws_connect(alice)
    while_open = await sync_to_async(scrape)()
    ack = await socket.ask(
        {
            "v": 1,
            "type": "message.send",
            "ref": 1,
            "channel_id": channel.pk,
            "body": "metrics please",
            "client_msg_id": str(uuid.uuid4()),
        }
    )
    assert ack["type"] == "ack"
    await socket.event("message.new")
    after = await sync_to_async(scrape)()

    def grew(name: str, samples: Any = after, **labels: str) -> float:
        return value(samples, name, **labels) - value(before, name, **labels)

    assert grew("enclave_http_requests_total", route=route, method="GET", status="200") == 1
    assert grew("enclave_http_request_duration_seconds_count", route=route, method="GET") == 1
    assert grew("enclave_ws_connections", while_open) == 1
    assert grew("enclave_ws_connections_opened_total") == 1
    assert grew("enclave_messages_sent_total") == 1
    assert grew("enclave_send_batch_messages_count") == 1
    assert grew("enclave_send_batch_messages_sum") == 1
    assert grew("enclave_send_batch_duration_seconds_count") == 1
    assert grew("enclave_ws_send_ack_seconds_count") == 1
    assert grew("enclave_realtime_deliveries_total") >= 1
    assert grew("enclave_realtime_bus_lag_seconds_count") >= 1
    assert grew("enclave_realtime_fanout_seconds_count") >= 1
    await socket.disconnect()
    closed = await sync_to_async(scrape)()
    assert value(closed, "enclave_ws_connections") == value(before, "enclave_ws_connections")


@pytest.mark.django_db(transaction=True)
async def test_websocket_operations_are_counted_by_outcome(
    ws_connect: Any, make_user: Callable[..., User], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the upgrade's canary gate reads (ansible/roles/enclave_app/templates/error-rate.j2):
    acks and pongs ok, the client's mistakes refused, the server's failures failed."""
    from apps.chat import consumers

    def explode(user: User, frame: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("the database went away")

    monkeypatch.setitem(consumers.OPERATIONS, "test.explode", explode)
    alice = await sync_to_async(make_user)()
    socket = await ws_connect(alice)
    socket.allow_internal_error = True
    before = await sync_to_async(scrape)()
    assert (await socket.ask({"type": "ping"}))["type"] == "pong"
    assert (await socket.ask({"type": "presence.set", "status": "away"}))["type"] == "ack"
    refused = await socket.ask({"type": "message.explode"})
    assert refused["code"] == "unknown_type"
    failed = await socket.ask({"type": "test.explode"})
    assert failed["code"] == "internal_error"
    after = await sync_to_async(scrape)()

    def grew(outcome: str) -> float:
        name = "enclave_ws_operations_total"
        return value(after, name, outcome=outcome) - value(before, name, outcome=outcome)

    assert (grew("ok"), grew("refused"), grew("failed")) == (2, 1, 1)


def test_http_routes_are_pattern_names_never_raw_paths(db: Any) -> None:
    Client().get("/api/v1/no/such/thing/12345")
    Client().get("/definitely-not-a-page-98765")
    samples = scrape()
    routes = {
        dict(labels).get("route") for name, labels in samples if name.startswith("enclave_http")
    }
    assert "api-not-found" in routes
    assert "unmatched" in routes
    assert not any("12345" in str(route) or "98765" in str(route) for route in routes)


def test_the_request_id_is_echoed_or_made(db: Any) -> None:
    given = Client().get("/healthz", HTTP_X_REQUEST_ID="edge-4f2a.17")
    made = Client().get("/healthz")
    refused = Client().get("/healthz", HTTP_X_REQUEST_ID="no spaces <or> markup")
    assert given["X-Request-ID"] == "edge-4f2a.17"
    assert len(made["X-Request-ID"]) == 32
    assert refused["X-Request-ID"] != "no spaces <or> markup"


def test_scrape_time_metrics_come_from_the_database(db: Any, user: User) -> None:
    client = Client()
    client.force_login(user)
    now = timezone.now()
    BackupRun.objects.create(
        started_at=now - timedelta(hours=2),
        finished_at=now - timedelta(hours=1),
        status=JobStatus.SUCCEEDED,
    )
    DirectorySyncRun.objects.create(ok=True, finished_at=now)
    DirectorySyncRun.objects.create(ok=False, refused=True, finished_at=now)
    DirectorySyncRun.objects.create(ok=False, error="unreachable", finished_at=now)
    DirectorySyncRun.objects.create()  # still running: not counted

    samples = scrape()

    assert value(samples, "enclave_sessions_active") >= 1
    age = value(samples, "enclave_backup_last_success_age_seconds", kind="backup")
    assert 3590 < age < 3700
    assert value(samples, "enclave_backup_last_run_succeeded", kind="backup") == 1
    assert (
        "enclave_backup_last_success_age_seconds",
        frozenset({("kind", "drill")}),
    ) not in samples
    for result in ("ok", "failed", "refused"):
        assert value(samples, "enclave_ldap_syncs_total", result=result) == 1
    assert value(samples, "enclave_ldap_sync_last_success_timestamp_seconds") == pytest.approx(
        now.timestamp(), abs=1
    )


def test_celery_task_outcomes_and_durations_are_counted(db: Any) -> None:
    from apps.files.tasks import purge_deleted_attachments

    name = "apps.files.tasks.purge_deleted_attachments"
    before = scrape()
    purge_deleted_attachments.delay()  # eager in the tests: the same signals as a worker
    after = scrape()
    assert (
        value(after, "enclave_celery_tasks_total", task=name, outcome="succeeded")
        - value(before, "enclave_celery_tasks_total", task=name, outcome="succeeded")
    ) == 1
    assert (
        value(after, "enclave_celery_task_duration_seconds_count", task=name)
        - value(before, "enclave_celery_task_duration_seconds_count", task=name)
    ) == 1


def test_a_scan_without_clamd_counts_as_failed(db: Any) -> None:
    from apps.files import services as files_services

    uploader = UserFactory()
    attachment = files_services.attachment_upload(
        uploader=uploader, source=io.BytesIO(b"plain text\n"), name="notes.txt"
    )
    before = value(scrape(), "enclave_file_scans_total", result="failed")
    files_services.attachment_scan(attachment_id=attachment.pk)
    assert value(scrape(), "enclave_file_scans_total", result="failed") == before + 1


@pytest.mark.redis
def test_celery_queue_length_is_read_from_a_redis_broker(db: Any, settings: Any) -> None:
    import redis

    settings.CELERY_BROKER_URL = REDIS_TEST_URL
    settings.CELERY_TASK_DEFAULT_QUEUE = f"enclave-test-metrics-{uuid.uuid4().hex[:8]}"
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    client = redis.Redis.from_url(REDIS_TEST_URL)
    try:
        client.lpush(queue, "a", "b", "c")
        client.lpush(f"{queue}\x06\x163", "d")  # a priority step's list
        samples = scrape()
    finally:
        client.delete(queue, f"{queue}\x06\x163")
    assert value(samples, "enclave_celery_queue_length", queue=queue) == 4


def test_no_queue_length_without_a_redis_broker(db: Any, settings: Any) -> None:
    settings.CELERY_BROKER_URL = "memory://"
    assert not any(name == "enclave_celery_queue_length" for name, _labels in scrape())


@pytest.mark.postgres
def test_the_database_pool_is_sampled(db: Any, settings: Any) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    samples = scrape()
    in_use = value(samples, "enclave_db_pool_connections", state="in_use")
    idle = value(samples, "enclave_db_pool_connections", state="idle")
    assert in_use + idle >= 1
    assert (
        value(samples, "enclave_db_pool_max_connections")
        == (settings.DATABASES["default"]["OPTIONS"]["pool"]["max_size"])
    )
    assert value(samples, "enclave_db_pool_requests_total") >= 1


# --- several processes --------------------------------------------------------------------------

_WRITER = textwrap.dedent(
    """
    import os, sys
    import django
    django.setup()
    from apps.core.metrics import MESSAGES_SENT, WS_CONNECTIONS
    MESSAGES_SENT.inc(int(sys.argv[1]))
    WS_CONNECTIONS.inc(int(sys.argv[2]))
    print("ready", flush=True)
    if sys.argv[3] == "stay":
        sys.stdin.readline()
    """
)


def _writer(directory: Path, messages: int, sockets: int, stay: bool) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "ENCLAVE_METRICS_DIR": str(directory),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    process = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(messages), str(sockets), "stay" if stay else "exit"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


def test_multiprocess_mode_adds_up_the_processes(
    db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "metrics"
    staying = _writer(directory, messages=3, sockets=2, stay=True)
    gone = _writer(directory, messages=4, sockets=5, stay=False)
    try:
        assert gone.wait(timeout=30) == 0
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
        samples = scrape()
    finally:
        assert staying.stdin is not None
        staying.stdin.write("\n")
        staying.stdin.close()
        staying.wait(timeout=30)
    # Counters of every process, the one that ended included; open sockets only of the living.
    assert value(samples, "enclave_messages_sent_total") == 7
    assert value(samples, "enclave_ws_connections") == 2
    assert not list(directory.glob(f"gauge_livesum_{gone.pid}.db"))


class _CountingSocket:
    def __init__(self) -> None:
        self.frames = 0

    def deliver_now(self, frame: str, channel_id: int | None, wire: bytes) -> bool:
        self.frames += 1
        return True

    async def deliver(self, frame: str, channel_id: int | None, wire: bytes) -> None:
        raise AssertionError("delivered without awaiting")

    async def control(self, message: dict[str, Any]) -> None:
        raise AssertionError("no control expected")


async def test_fan_out_counts_every_delivery_and_samples_the_histograms(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio

    from apps.core.metrics import REALTIME_BUS_LAG, REALTIME_DELIVERIES
    from apps.core.runtime import realtime

    monkeypatch.setattr(realtime, "OBSERVE_EVERY", 0.3)  # wide: a loaded machine stays inside

    hub = realtime.Hub(asyncio.get_running_loop(), None)
    sockets = [_CountingSocket() for _ in range(3)]
    for sock in sockets:
        hub.add(sock, ["chan.9"])  # type: ignore[arg-type]
    payload = realtime.encode(["chan.9"], {"type": "client.push", "frame": "{}", "channel_id": 9})
    delivered, lags = REALTIME_DELIVERIES._value.get(), REALTIME_BUS_LAG._sum.get()
    lag_count = _histogram_count(REALTIME_BUS_LAG)

    for _ in range(4):  # back to back: one sample, the rest counted by the timer
        await hub.deliver(payload)
    assert REALTIME_DELIVERIES._value.get() - delivered == 3
    assert _histogram_count(REALTIME_BUS_LAG) - lag_count == 1
    await asyncio.sleep(realtime.OBSERVE_EVERY * 3)

    assert REALTIME_DELIVERIES._value.get() - delivered == 12
    assert [sock.frames for sock in sockets] == [4, 4, 4]
    assert REALTIME_BUS_LAG._sum.get() >= lags


def _histogram_count(histogram: Histogram) -> float:
    return sum(
        sample.value
        for family in histogram.collect()
        for sample in family.samples
        if sample.name.endswith("_count")
    )


def test_a_process_marks_its_gauges_dead_when_it_exits(tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    gone = _writer(directory, messages=1, sockets=3, stay=True)
    assert directory.joinpath(f"gauge_livesum_{gone.pid}.db").exists()
    assert gone.stdin is not None
    gone.stdin.write("\n")
    gone.stdin.close()
    assert gone.wait(timeout=30) == 0
    # No scrape in between: the process removed its own gauges at exit; its counter stays.
    assert not list(directory.glob(f"gauge_*_{gone.pid}.db"))
    assert directory.joinpath(f"counter_{gone.pid}.db").exists()


def test_a_starting_process_sweeps_the_gauges_of_processes_that_ended(
    db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "metrics"
    killed = _writer(directory, messages=2, sockets=4, stay=True)
    killed.kill()  # SIGKILL: no atexit, its files stay behind as after a crash
    killed.wait(timeout=30)
    assert directory.joinpath(f"gauge_livesum_{killed.pid}.db").exists()
    # A gauge of another mode (an older release's, say) of the same dead process.
    shutil.copy(
        directory / f"gauge_livesum_{killed.pid}.db", directory / f"gauge_max_{killed.pid}.db"
    )
    starting = _writer(directory, messages=1, sockets=1, stay=True)
    try:
        assert not list(directory.glob(f"gauge_*_{killed.pid}.db"))
        assert directory.joinpath(f"gauge_livesum_{starting.pid}.db").exists()
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
        samples = scrape()
    finally:
        assert starting.stdin is not None
        starting.stdin.write("\n")
        starting.stdin.close()
        starting.wait(timeout=30)
    assert value(samples, "enclave_ws_connections") == 1
    assert value(samples, "enclave_messages_sent_total") == 3


def test_celery_pool_children_mark_their_gauges_dead_on_shutdown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from celery import signals

    directory = tmp_path / "metrics"
    directory.mkdir()
    mine = directory / f"gauge_livesum_{os.getpid()}.db"
    mine.write_bytes(b"")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    # apps.ops connected it (install_celery_signals, at start-up).
    signals.worker_process_shutdown.send(sender=None, pid=os.getpid(), exitcode=0)
    assert not mine.exists()
