"""Every PromQL expression of the Grafana dashboards (deploy/grafana/dashboards/) and of the
alert rules (deploy/prometheus/rules/enclave.yml) is evaluated by a real Prometheus that
scrapes a live Enclave on PostgreSQL and Redis and the Debian exporters next to it:

- Enclave: uvicorn (two workers) and a Celery worker sharing ENCLAVE_METRICS_DIR, scraped
  with the bearer token (job `enclave`);
- prometheus-node-exporter (job `node`, labelled as an app host), prometheus-postgres-exporter
  against the test PostgreSQL (`postgres`), prometheus-redis-exporter against the test Redis
  (`redis`), nginx with a TLS server in front of Enclave and a loopback stub_status read by
  prometheus-nginx-exporter (`nginx`), prometheus-blackbox-exporter's TLS probe of that nginx
  (`tls`): the job names and labels of ansible/roles/enclave_prometheus.

The test sends REST requests (some refused), uploads a file (its virus scan runs in Celery and
fails: there is no clamd), sends WebSocket messages, and then asks Prometheus for every
dashboard target and for every operand of every alert expression (the alert itself is silent
when all is well, so its parts are asked: `A > 0.2` asks A, `absent(X)` asks X). Each must
parse and return a series: a dashboard panel that a real installation would show empty fails
here. Prometheus also loads the rule file itself and must report every group healthy.

Nothing is exempt: NO_DATA_IN_TEST is empty, and stays the place to list an expression the
test cannot feed, with the reason.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REQUIRE_SERVICES
from tests.ops.test_metrics_prometheus import _free_port, _get, _stop, _wait_until_up

pytestmark = [pytest.mark.prometheus, pytest.mark.postgres, pytest.mark.redis]

ROOT = Path(__file__).resolve().parents[2]
UVICORN = str(Path(sys.executable).with_name("uvicorn"))
CELERY = str(Path(sys.executable).with_name("celery"))
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
RULES = ROOT / "deploy" / "prometheus" / "rules" / "enclave.yml"
TOKEN = "dashboards-test-token-8d41e0"
DOMAIN = "chat.example.com"
EXPORTERS = {
    "node": "prometheus-node-exporter",
    "postgres": "prometheus-postgres-exporter",
    "redis": "prometheus-redis-exporter",
    "nginx": "prometheus-nginx-exporter",
    "blackbox": "prometheus-blackbox-exporter",
}
# Expressions no test here can give data, with the reason. Empty: every one gets data.
NO_DATA_IN_TEST: dict[str, str] = {}


# --- the expressions --------------------------------------------------------------------------


def dashboard_expressions() -> list[tuple[str, str]]:
    """(where, expr) of every target of every panel of every dashboard."""
    found = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                found.append((f"{path.name}: {panel['title']} {target['refId']}", target["expr"]))
    return found


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


_SET_OPERATOR = re.compile(r"\b(and|or|unless)\b")
_COMPARISON = re.compile(r"(==|!=|>=|<=|>|<)")
_MODIFIER = re.compile(r"^\s*(bool\b|(on|ignoring|group_left|group_right)\s*\([^)]*\))\s*")


def _split_top_level(expression: str, pattern: re.Pattern[str]) -> list[str]:
    """Split at `pattern` where it stands outside (), {}, [] and quotes."""
    parts, depth, quote, start, index = [], 0, "", 0, 0
    while index < len(expression):
        char = expression[index]
        if quote:
            if char == "\\":
                index += 2
                continue
            if char == quote:
                quote = ""
        elif char in "\"'`":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0:
            match = pattern.match(expression, index)
            if match and (pattern is not _SET_OPERATOR or _word_boundary(expression, match)):
                parts.append(expression[start:index])
                start = index = match.end()
                continue
        index += 1
    parts.append(expression[start:])
    return [part.strip() for part in parts]


def _word_boundary(expression: str, match: re.Match[str]) -> bool:
    before = expression[match.start() - 1] if match.start() else " "
    return not (before.isalnum() or before == "_")


def rule_operands(expression: str) -> list[str]:
    """The parts of an alert expression that carry metrics: split at top-level and/or/unless
    and comparisons, without on()/bool modifiers, absent(X) as X, numbers dropped."""
    operands = []
    for part in _split_top_level(expression, _SET_OPERATOR):
        for operand in _split_top_level(part, _COMPARISON):
            operand = _MODIFIER.sub("", operand)
            while _MODIFIER.match(operand):
                operand = _MODIFIER.sub("", operand)
            absent = re.fullmatch(r"absent\((.*)\)", operand, re.DOTALL)
            if absent:
                operand = absent.group(1)
            if re.fullmatch(r"[\d\s.*+/()-]+", operand):
                continue
            operands.append(operand)
    return operands


# --- the live installation --------------------------------------------------------------------


def _need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        message = f"[prometheus] needs {binary} (apt-get install {binary}; Makefile)"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    return path


def _spawn(argv: list[str], log: Path, **kwargs: Any) -> subprocess.Popen[bytes]:
    with open(log, "ab") as stream:
        return subprocess.Popen(
            argv, stdout=stream, stderr=subprocess.STDOUT, start_new_session=True, **kwargs
        )


_SETUP = """
import json
from datetime import timedelta
from django.utils import timezone
from apps.accounts.services import api_token_create
from apps.ops.models import BackupRun, JobStatus, RestoreDrill
from tests.factories import ChannelFactory, MembershipFactory, UserFactory
user = UserFactory(username="dashboards-probe")
channel = ChannelFactory(name="dashboards")
MembershipFactory(channel=channel, user=user)
_token, raw = api_token_create(user=user, name="dashboards test")
now = timezone.now()
BackupRun.objects.create(
    started_at=now - timedelta(hours=3), finished_at=now - timedelta(hours=2),
    duration_seconds=60, status=JobStatus.SUCCEEDED, name="nightly",
)
RestoreDrill.objects.create(
    started_at=now - timedelta(hours=5), finished_at=now - timedelta(hours=4),
    duration_seconds=90, status=JobStatus.SUCCEEDED, backup_name="nightly",
)
print(json.dumps({"token": raw, "channel_id": channel.pk}))
"""


def _admin_dsn(database: str) -> str:
    from django.conf import settings

    default = settings.DATABASES["default"]
    user = urllib.parse.quote(default.get("USER") or "postgres")
    password = default.get("PASSWORD") or ""
    auth = f"{user}:{urllib.parse.quote(password)}" if password else user
    host, port = default.get("HOST") or "127.0.0.1", default.get("PORT") or 5432
    return f"postgresql://{auth}@{host}:{port}/{database}"


@pytest.fixture
def live_database() -> Iterator[str]:
    """A PostgreSQL database of its own (the live server migrates it), dropped afterwards."""
    import psycopg

    name = f"enclave_dashboards_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_admin_dsn("postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(_admin_dsn("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def live_stack(tmp_path: Path, live_database: str) -> Iterator[dict[str, Any]]:
    """Enclave (uvicorn + Celery), nginx and the exporters, each on a free loopback port."""
    from django.conf import settings

    binaries = {key: _need(name) for key, name in EXPORTERS.items()}
    nginx = _need("nginx")
    openssl = _need("openssl")
    redis_url = settings.REDIS_URL  # this xdist worker's database (ENCLAVE_TEST_REDIS_OFFSET)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENCLAVE_", "REDIS_"))}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(
        DATABASE_URL=_admin_dsn(live_database).replace("postgresql://", "postgres://", 1),
        REDIS_URL=redis_url,
        ENCLAVE_CHANNEL_PREFIX=f"enclave-dashboards-{uuid.uuid4().hex[:8]}",
        # Production settings, as the app hosts run them: only enclave_domain's Host, HTTPS
        # as nginx says it (a scrape straight at a worker is refused: the nginx metrics port).
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY="dashboards-test-secret-key-" + "k" * 40,
        ENCLAVE_ALLOWED_HOSTS=DOMAIN,
        ENCLAVE_VAR_DIR=str(tmp_path),
        ENCLAVE_METRICS_DIR=str(tmp_path / "metrics"),
        ENCLAVE_METRICS_TOKEN=TOKEN,
        ENCLAVE_METRICS_ALLOWED_NETWORKS="192.0.2.0/24",  # not loopback: the token is needed
        ENCLAVE_METRICS_CACHE_SECONDS="1",
        ENCLAVE_CLAMD_ADDRESS="unix:///nonexistent/clamd.sock",
        PYTHONUNBUFFERED="1",
    )
    started = time.monotonic()
    for command in (["migrate", "--noinput", "-v0"], ["shell", "-c", _SETUP]):
        done = subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"migrated and seeded in {time.monotonic() - started:.1f} s")

    ports = {
        key: _free_port() for key in ("enclave", "front", "https", "stub", "metrics", *EXPORTERS)
    }
    processes: list[subprocess.Popen[bytes]] = []
    logs = tmp_path / "logs"
    logs.mkdir()
    try:
        # Enclave: two uvicorn workers and a Celery worker, one metrics directory.
        processes.append(
            _spawn(
                [
                    *(UVICORN, "config.asgi:application", "--host", "127.0.0.1"),
                    *("--port", str(ports["enclave"]), "--workers", "2"),
                    *("--proxy-headers", "--forwarded-allow-ips", "127.0.0.1"),
                    *("--ws", "websockets-sansio", "--lifespan", "off", "--no-access-log"),
                ],
                logs / "uvicorn.log",
                cwd=ROOT,
                env=env,
            )
        )
        processes.append(
            _spawn(
                [CELERY, "-A", "config.celery_app", "worker", "--pool", "solo", "-l", "WARNING"],
                logs / "celery.log",
                cwd=ROOT,
                env=env,
            )
        )
        # nginx as the roles set it up: TLS in front of Enclave (a fresh self-signed
        # certificate; enclave_nginx), stub_status on loopback and the monitoring port that
        # passes /metrics on with enclave_domain's Host and HTTPS (enclave_monitoring_exporters'
        # enclave-monitoring.conf). `front` is the test's own way in, plain HTTP on loopback
        # with the headers nginx's TLS server sets.
        certificate, key = tmp_path / "tls.crt", tmp_path / "tls.key"
        subprocess.run(
            [
                *(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30"),
                *("-subj", "/CN=chat.example.com", "-keyout", str(key), "-out", str(certificate)),
            ],
            check=True,
            capture_output=True,
        )
        nginx_dir = tmp_path / "nginx"
        nginx_dir.mkdir()
        (nginx_dir / "nginx.conf").write_text(
            f"""
daemon off;
worker_processes 1;
pid {nginx_dir}/nginx.pid;
error_log {nginx_dir}/error.log warn;
events {{ worker_connections 128; }}
http {{
  access_log off;
  client_body_temp_path {nginx_dir}/body;
  proxy_temp_path {nginx_dir}/proxy;
  fastcgi_temp_path {nginx_dir}/fastcgi;
  uwsgi_temp_path {nginx_dir}/uwsgi;
  scgi_temp_path {nginx_dir}/scgi;
  server {{
    listen 127.0.0.1:{ports["https"]} ssl;
    ssl_certificate {certificate};
    ssl_certificate_key {key};
    location = /nginx-healthz {{ return 200 "ok\\n"; }}
    location / {{
      proxy_pass http://127.0.0.1:{ports["enclave"]};
      proxy_set_header Host {DOMAIN};
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto https;
    }}
  }}
  server {{
    listen 127.0.0.1:{ports["front"]};
    location / {{
      proxy_pass http://127.0.0.1:{ports["enclave"]};
      proxy_http_version 1.1;
      proxy_set_header Host {DOMAIN};
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto https;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $http_connection;
    }}
  }}
  server {{
    listen 127.0.0.1:{ports["stub"]};
    location = /stub_status {{ stub_status; }}
  }}
  server {{
    listen 127.0.0.1:{ports["metrics"]};
    location = /metrics {{
      proxy_pass http://127.0.0.1:{ports["enclave"]};
      proxy_http_version 1.1;
      proxy_set_header Host {DOMAIN};
      proxy_set_header X-Forwarded-Proto https;
    }}
    location / {{ return 404; }}
  }}
}}
"""
        )
        processes.append(
            _spawn(
                [nginx, "-p", str(nginx_dir), "-c", str(nginx_dir / "nginx.conf")],
                logs / "nginx.log",
            )
        )
        # The exporters.
        processes.append(
            _spawn(
                [
                    binaries["node"],
                    f"--web.listen-address=127.0.0.1:{ports['node']}",
                    "--collector.disable-defaults",
                    *("--collector.cpu", "--collector.filesystem", "--collector.meminfo"),
                    *("--collector.loadavg", "--collector.diskstats", "--collector.netdev"),
                ],
                logs / "node.log",
            )
        )
        processes.append(
            _spawn(
                [
                    binaries["redis"],
                    f"-web.listen-address=127.0.0.1:{ports['redis']}",
                    f"-redis.addr={redis_url}",
                ],
                logs / "redis.log",
            )
        )
        processes.append(
            _spawn(
                [
                    binaries["postgres"],
                    f"--web.listen-address=127.0.0.1:{ports['postgres']}",
                ],
                logs / "postgres.log",
                env={**os.environ, "DATA_SOURCE_NAME": _admin_dsn("postgres") + "?sslmode=disable"},
            )
        )
        processes.append(
            _spawn(
                [
                    binaries["nginx"],
                    f"-web.listen-address=127.0.0.1:{ports['nginx']}",
                    f"-nginx.scrape-uri=http://127.0.0.1:{ports['stub']}/stub_status",
                    "-nginx.retries=20",
                    "-nginx.retry-interval=500ms",
                ],
                logs / "nginx-exporter.log",
            )
        )
        blackbox_config = tmp_path / "blackbox.yml"
        blackbox_config.write_text(
            yaml.safe_dump(
                {
                    "modules": {
                        "enclave_tls": {
                            "prober": "http",
                            "timeout": "5s",
                            "http": {
                                "valid_status_codes": [200],
                                "fail_if_not_ssl": True,
                                "headers": {"Host": DOMAIN},
                                "tls_config": {
                                    "server_name": DOMAIN,
                                    "insecure_skip_verify": True,  # self-signed here
                                },
                            },
                        }
                    }
                }
            )
        )
        processes.append(
            _spawn(
                [
                    binaries["blackbox"],
                    f"--config.file={blackbox_config}",
                    f"--web.listen-address=127.0.0.1:{ports['blackbox']}",
                ],
                logs / "blackbox.log",
            )
        )
        names = ["uvicorn", "celery", "nginx", "node", "redis", "postgres", "nginx-exporter"]
        names.append("blackbox")
        for process, name, url in zip(
            processes,
            names,
            [
                f"http://127.0.0.1:{ports['front']}/healthz",
                None,
                f"http://127.0.0.1:{ports['stub']}/stub_status",
                f"http://127.0.0.1:{ports['node']}/metrics",
                f"http://127.0.0.1:{ports['redis']}/metrics",
                f"http://127.0.0.1:{ports['postgres']}/metrics",
                f"http://127.0.0.1:{ports['nginx']}/metrics",
                f"http://127.0.0.1:{ports['blackbox']}/metrics",
            ],
            strict=True,
        ):
            if url is not None:
                _wait_until_up(url, process, logs / f"{name}.log", name)
        print(f"stack up in {time.monotonic() - started:.1f} s")
        yield {"ports": ports, "logs": logs, "processes": processes, **data}
    finally:
        for process in reversed(processes):
            _stop(process)


def prometheus_config(ports: dict[str, int]) -> dict[str, Any]:
    """The enclave_prometheus role's jobs, on this machine's loopback ports."""

    def static(job: str, target: str, **labels: str) -> dict[str, Any]:
        return {
            "job_name": job,
            "static_configs": [{"targets": [target], "labels": {"host": "test", **labels}}],
        }

    enclave = static("enclave", f"127.0.0.1:{ports['metrics']}")
    enclave["authorization"] = {"type": "Bearer", "credentials": TOKEN}
    tls = {
        "job_name": "tls",
        "metrics_path": "/probe",
        "params": {"module": ["enclave_tls"]},
        "static_configs": [
            {
                "targets": [f"https://127.0.0.1:{ports['https']}/nginx-healthz"],
                "labels": {"host": "test"},
            }
        ],
        "relabel_configs": [
            {"source_labels": ["__address__"], "target_label": "__param_target"},
            {"source_labels": ["__param_target"], "target_label": "instance"},
            {"target_label": "__address__", "replacement": f"127.0.0.1:{ports['blackbox']}"},
        ],
    }
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            enclave,
            static("node", f"127.0.0.1:{ports['node']}", enclave_app="true"),
            static("postgres", f"127.0.0.1:{ports['postgres']}"),
            static("redis", f"127.0.0.1:{ports['redis']}"),
            static("nginx", f"127.0.0.1:{ports['nginx']}"),
            tls,
        ],
    }


@pytest.fixture
def prometheus(tmp_path: Path, live_stack: dict[str, Any]) -> Iterator[str]:
    port = _free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(json.dumps(prometheus_config(live_stack["ports"])))  # JSON is YAML
    log_path = tmp_path / "prometheus.log"
    process = _spawn(
        [
            _need("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        log_path,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(f"{url}/-/ready", process, log_path, "prometheus")
        yield url
    finally:
        _stop(process)


def _ask(prometheus: str, expression: str) -> tuple[str | None, list[dict[str, Any]]]:
    """(error, result) of an instant query: a parse error is the error, not an exception."""
    status, body = _get(
        f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    )
    answer = json.loads(body)
    if status != 200 or answer.get("status") != "success":
        return f"{status} {answer.get('errorType')}: {answer.get('error')}", []
    data = answer["data"]
    if data["resultType"] == "scalar":
        return None, [{"value": data["result"]}]
    return None, list(data["result"])


def _wait_for_series(prometheus: str, expression: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _has_a_number(_ask(prometheus, expression)[1]):
            time.sleep(1.5)  # one more scrape of the same value
            return
        time.sleep(0.5)
    raise AssertionError(f"Prometheus never saw {expression}")


def _has_a_number(result: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(float(series["value"][1])) for series in result)


def _traffic(stack: dict[str, Any]) -> None:
    """REST (answered, refused, through nginx), an upload (scanned by Celery), WebSocket sends."""
    from websockets.sync.client import connect

    base = f"http://127.0.0.1:{stack['ports']['front']}"
    token = stack["token"]
    for _ in range(3):
        assert _get(f"{base}/api/v1/channels/", token=token)[0] == 200
    assert _get(f"{base}/api/v1/channels/")[0] in (401, 403)
    assert _get(f"{base}/api/v1/channels/", token="not-a-token")[0] in (401, 403)
    # Through nginx's TLS server (its request counters; the app sees a forwarded request).
    import ssl
    import urllib.request

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    request = urllib.request.Request(
        f"https://127.0.0.1:{stack['ports']['https']}/api/v1/channels/",
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, context=context, timeout=10) as response:  # noqa: S310
        assert response.status == 200
    # An upload: its scan runs in the Celery worker and fails (no clamd).
    boundary = uuid.uuid4().hex
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="notes.txt"'
        f"\r\nContent-Type: text/plain\r\n\r\nquarterly numbers\r\n--{boundary}--\r\n"
    ).encode()
    upload = urllib.request.Request(  # noqa: S310 - loopback
        f"{base}/api/v1/files/",
        data=body,
        method="POST",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    with urllib.request.urlopen(upload, timeout=20) as response:  # noqa: S310
        assert response.status == 201
    # WebSocket sends: acks, batches, the Redis bus, deliveries.
    with connect(
        f"ws://127.0.0.1:{stack['ports']['front']}/ws/",
        additional_headers={"Authorization": f"Bearer {token}"},
        open_timeout=20,
    ) as websocket:
        assert json.loads(websocket.recv(timeout=20))["type"] == "hello"
        messages = 20
        for number in range(messages):
            websocket.send(
                json.dumps(
                    {
                        "v": 1,
                        "type": "message.send",
                        "ref": number,
                        "channel_id": stack["channel_id"],
                        "body": f"dashboard {number}",
                        "client_msg_id": str(uuid.uuid4()),
                    }
                )
            )
        acks = 0
        while acks < messages:
            frame = json.loads(websocket.recv(timeout=20))
            assert frame["type"] != "error", frame
            acks += frame["type"] == "ack"


def test_every_dashboard_panel_and_alert_expression_returns_data(
    live_stack: dict[str, Any], prometheus: str
) -> None:
    started = time.monotonic()
    # Production settings refuse a scrape straight at a worker (its address is no allowed
    # Host, and it is not HTTPS): hence nginx's monitoring port, which Prometheus scrapes.
    worker = f"http://127.0.0.1:{live_stack['ports']['enclave']}/metrics"
    assert _get(worker, token=TOKEN)[0] in (301, 400)
    monitoring_port = f"http://127.0.0.1:{live_stack['ports']['metrics']}/metrics"
    assert _get(monitoring_port)[0] == 404  # no token
    assert _get(monitoring_port, token=TOKEN)[0] == 200
    # Twice: a counter's first sample is not an increase to rate(), so the histograms, tasks
    # and scans that the first round creates need a second round once Prometheus saw them.
    _traffic(live_stack)
    for first_seen in (
        "enclave_ws_send_ack_seconds_count",
        "enclave_realtime_bus_lag_seconds_count",
        'sum(enclave_celery_tasks_total{task="apps.files.tasks.scan_attachment"})',
        "sum(enclave_file_scans_total)",
    ):
        _wait_for_series(prometheus, first_seen)
    _traffic(live_stack)
    questions = [(where, expr) for where, expr in dashboard_expressions()]
    for rule in alert_rules():
        assert _ask(prometheus, rule["expr"])[0] is None, rule["alert"]
        for operand in rule_operands(rule["expr"]):
            questions.append((f"alert {rule['alert']}: {operand}", operand))
    assert len(DASHBOARDS) == 5
    assert len(questions) > 100

    # Prometheus scrapes every second; rate() over 5m needs two samples after the traffic.
    deadline = time.monotonic() + 90
    while True:
        problems = {}
        for where, expression in questions:
            if expression in NO_DATA_IN_TEST:
                continue
            error, result = _ask(prometheus, expression)
            if error or not _has_a_number(result):
                problems[where] = error or f"no data: {expression}"
        if not problems or time.monotonic() > deadline:
            break
        time.sleep(2)
    logs = {path.name: path.read_text()[-1500:] for path in live_stack["logs"].iterdir()}
    assert not problems, json.dumps(problems, indent=1) + "\n" + json.dumps(logs, indent=1)
    print(f"{len(questions)} expressions answered {time.monotonic() - started:.1f} s after traffic")

    # The rule file loaded into Prometheus: every group evaluated without error.
    status, body = _get(f"{prometheus}/api/v1/rules")
    assert status == 200
    groups = json.loads(body)["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) == len(alert_rules())
    assert {rule["health"] for rule in rules} == {"ok"}, [
        (rule["name"], rule.get("lastError")) for rule in rules if rule["health"] != "ok"
    ]
    # A healthy installation: none of the alerts that mean "broken" fires.
    firing = {rule["name"] for rule in rules if rule["state"] == "firing"}
    assert not firing & {"EnclaveTargetDown", "EnclaveBackingServiceDown", "EnclaveTLSProbeFailed"}
