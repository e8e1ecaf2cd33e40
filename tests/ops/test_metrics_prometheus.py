"""A real Prometheus (Debian's `prometheus`) scrapes a live Enclave: uvicorn with two workers
adding up their metrics through ENCLAVE_METRICS_DIR, logging JSON with the shipped
--log-config. The test sends REST requests and WebSocket messages, waits for a scrape and asks
Prometheus' HTTP API for the message and socket metrics.

Prometheus authenticates with the bearer token: the allowed networks here exclude loopback.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.prometheus

ROOT = Path(__file__).resolve().parents[2]
UVICORN = str(Path(sys.executable).with_name("uvicorn"))
TOKEN = "prometheus-test-token-5f0c2b"
START_TIMEOUT_S = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str, token: str | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url)  # noqa: S310 - a loopback URL of this test
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError):
            if _get(url, timeout=1)[0] == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up:\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


_SETUP = """
import json
from apps.accounts.services import api_token_create
from tests.factories import ChannelFactory, MembershipFactory, UserFactory
user = UserFactory(username="prometheus-probe")
channel = ChannelFactory(name="metrics")
MembershipFactory(channel=channel, user=user)
_token, raw = api_token_create(user=user, name="prometheus test")
print(json.dumps({"token": raw, "channel_id": channel.pk}))
"""


@pytest.fixture
def live_enclave(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """uvicorn, two workers, on a SQLite database of its own, with a user, channel and token."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENCLAVE_", "REDIS_"))}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'enclave.sqlite3'}",
        DJANGO_SETTINGS_MODULE="config.settings.local",
        ENCLAVE_VAR_DIR=str(tmp_path),
        ENCLAVE_METRICS_DIR=str(tmp_path / "metrics"),
        ENCLAVE_METRICS_TOKEN=TOKEN,
        ENCLAVE_METRICS_ALLOWED_NETWORKS="192.0.2.0/24",  # not loopback: the token is needed
        ENCLAVE_LOG_FORMAT="json",
        ENCLAVE_CLAMD_ADDRESS="unix:///nonexistent/clamd.sock",
        PYTHONUNBUFFERED="1",
    )
    for command in (["migrate", "--noinput", "-v0"], ["shell", "-c", _SETUP]):
        done = subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(done.stdout.strip().splitlines()[-1])
    port = _free_port()
    log_path = tmp_path / "uvicorn.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [
                *(UVICORN, "config.asgi:application", "--host", "127.0.0.1"),
                *("--port", str(port), "--workers", "2", "--http", "httptools"),
                *("--ws", "websockets-sansio", "--ws-per-message-deflate", "false"),
                *("--lifespan", "off", "--no-access-log"),
                *("--log-config", "deploy/logging/uvicorn-log-config.json"),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_up(f"http://127.0.0.1:{port}/healthz", process, log_path, "uvicorn")
        yield {"port": port, "log": log_path, **data}
    finally:
        _stop(process)


@pytest.fixture
def prometheus(tmp_path: Path, live_enclave: dict[str, Any]) -> Iterator[str]:
    """Prometheus on a loopback port, scraping the live Enclave every second."""
    port = _free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        json.dumps(  # JSON is YAML
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "scrape_configs": [
                    {
                        "job_name": "enclave",
                        "scrape_interval": "1s",
                        "metrics_path": "/metrics",
                        "authorization": {"type": "Bearer", "credentials": TOKEN},
                        "static_configs": [{"targets": [f"127.0.0.1:{live_enclave['port']}"]}],
                    }
                ],
            }
        )
    )
    log_path = tmp_path / "prometheus.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [
                shutil.which("prometheus") or "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(f"{url}/-/ready", process, log_path, "prometheus")
        yield url
    finally:
        _stop(process)


def _query(prometheus: str, expression: str) -> list[dict[str, Any]]:
    status, body = _get(
        f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    )
    assert status == 200, body[:500]
    answer = json.loads(body)
    assert answer["status"] == "success", answer
    return list(answer["data"]["result"])


def _wait_for(prometheus: str, expression: str, at_least: float, timeout: float = 40.0) -> float:
    """The query's first value once it reaches `at_least` (Prometheus scrapes every second)."""
    deadline = time.monotonic() + timeout
    last: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        last = _query(prometheus, expression)
        if last and float(last[0]["value"][1]) >= at_least:
            return float(last[0]["value"][1])
        time.sleep(0.5)
    raise AssertionError(f"{expression} never reached {at_least}: {last}")


def test_prometheus_scrapes_message_and_socket_metrics_from_a_live_enclave(
    live_enclave: dict[str, Any], prometheus: str
) -> None:
    from websockets.sync.client import connect

    base = f"http://127.0.0.1:{live_enclave['port']}"
    # Without the token, from loopback (not an allowed network here): refused.
    assert _get(f"{base}/metrics")[0] == 404
    for _ in range(3):
        status, _body = _get(f"{base}/api/v1/channels/", token=live_enclave["token"])
        assert status == 200

    messages = 5
    with connect(
        f"ws://127.0.0.1:{live_enclave['port']}/ws/",
        additional_headers={"Authorization": f"Bearer {live_enclave['token']}"},
        open_timeout=20,
    ) as websocket:
        assert json.loads(websocket.recv(timeout=20))["type"] == "hello"
        for number in range(messages):
            websocket.send(
                json.dumps(
                    {
                        "v": 1,
                        "type": "message.send",
                        "ref": number,
                        "channel_id": live_enclave["channel_id"],
                        "body": f"scrape me {number}",
                        "client_msg_id": str(uuid.uuid4()),
                    }
                )
            )
        acks = 0
        while acks < messages:
            frame = json.loads(websocket.recv(timeout=20))
            assert frame["type"] != "error", frame
            acks += frame["type"] == "ack"

        # While the socket is open: Prometheus sees it, and the messages.
        assert _wait_for(prometheus, 'up{job="enclave"}', 1) == 1
        assert _wait_for(prometheus, "enclave_messages_sent_total", messages) == messages
        assert _wait_for(prometheus, "sum(enclave_ws_connections)", 1) == 1
        assert _wait_for(prometheus, "enclave_ws_send_ack_seconds_count", messages) == messages
        assert _wait_for(prometheus, "enclave_realtime_deliveries_total", messages) >= messages
        requests = _wait_for(
            prometheus,
            'sum(enclave_http_requests_total{route="chat_api:channels",status="200"})',
            3,
        )
        assert requests == 3

    # Closed: the gauge goes back down (the sum over both workers).
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        result = _query(prometheus, "sum(enclave_ws_connections)")
        if result and float(result[0]["value"][1]) == 0:
            break
        time.sleep(0.5)
    else:
        raise AssertionError("enclave_ws_connections did not return to 0")
    # Every line the server wrote is JSON (uvicorn's own included: --log-config).
    lines = live_enclave["log"].read_text().splitlines()
    assert lines
    for line in lines:
        record = json.loads(line)
        assert "scrape me" not in line
        assert {"timestamp", "level", "logger", "message"} <= set(record)
