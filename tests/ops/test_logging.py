"""JSON log lines: one schema, request ids, a message's correlation id from its frame to its
deliveries, and never a message body or a secret."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.urls import resolve

from apps.accounts.models import User
from apps.chat.models import Channel
from apps.ops.logs import (
    REDACTED,
    EnclaveLogFilter,
    JsonFormatter,
    TextFormatter,
    logging_config,
    uvicorn_log_config,
)

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_KEYS = {
    "timestamp",
    "level",
    "logger",
    "message",
    "process",
    "request_id",
    "correlation_id",
    "connection_id",
    "user_id",
    "route",
    "method",
    "status",
    "latency_ms",
    "task_name",
    "task_id",
    "exc_info",
    "stack_info",
    "extra",
}


class JsonLines:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def records(self) -> list[dict[str, Any]]:
        lines = [line for line in self.stream.getvalue().splitlines() if line.strip()]
        records = [json.loads(line) for line in lines]  # every line parses
        for record in records:
            assert set(record) <= SCHEMA_KEYS, set(record) - SCHEMA_KEYS
            assert {"timestamp", "level", "logger", "message", "process"} <= set(record)
        return records

    def text(self) -> str:
        return self.stream.getvalue()


@pytest.fixture
def json_lines() -> Iterator[JsonLines]:
    """Every record of every logger as Enclave's JSON lines, with the message trail on."""
    # Importing the ASGI application runs django.setup(), which configures logging afresh
    # (and would drop this handler): do it first.
    import config.asgi  # noqa: F401

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(EnclaveLogFilter())
    root = logging.getLogger()
    trail = logging.getLogger("enclave.messages")
    request_logger = logging.getLogger("enclave.request")
    saved = root.level, trail.level, request_logger.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    trail.setLevel(logging.INFO)
    request_logger.setLevel(logging.INFO)
    yield JsonLines(stream)
    root.removeHandler(handler)
    root.setLevel(saved[0])
    trail.setLevel(saved[1])
    request_logger.setLevel(saved[2])


def _record(message: str, **extra: Any) -> logging.LogRecord:
    record = logging.getLogger("enclave.test").makeRecord(
        "enclave.test", logging.WARNING, __file__, 1, message, None, None, extra=extra
    )
    EnclaveLogFilter().filter(record)
    return record


def test_a_json_line_holds_the_schema_and_puts_the_rest_under_extra() -> None:
    record = _record("hello %s", request_id="r1", status=201, channel_id=7)
    record.args = ("world",)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "hello world"
    assert line["level"] == "WARNING"
    assert line["logger"] == "enclave.test"
    assert line["timestamp"].endswith("Z")
    assert line["request_id"] == "r1"
    assert line["status"] == 201
    assert line["extra"] == {"channel_id": 7}


def test_sensitive_keys_and_tokens_are_redacted() -> None:
    record = _record(
        "login with Authorization: Bearer enc_abc123 and ?token=xyz",
        body="the secret message",
        password="hunter2",
        headers={"Cookie": "sessionid=abc", "Accept": "json"},
        otp_code="123456",
        request=object(),
    )
    line = JsonFormatter().format(record)
    for secret in ("the secret message", "hunter2", "enc_abc123", "xyz", "sessionid=abc", "123456"):
        assert secret not in line
    parsed = json.loads(line)
    assert parsed["extra"]["body"] == REDACTED
    assert parsed["extra"]["headers"] == {"Cookie": REDACTED, "Accept": "json"}
    assert "request" not in parsed["extra"]


def test_the_text_format_shows_the_context_fields() -> None:
    record = _record("socket opened", connection_id="c1", user_id=5)
    assert TextFormatter().format(record).endswith("socket opened [connection_id=c1 user_id=5]")


def test_a_request_logs_one_json_line_with_its_id_route_status_latency_and_user(
    db: Any, user: User, json_lines: JsonLines
) -> None:
    client = Client()
    client.force_login(user)
    response = client.get("/api/v1/channels/", HTTP_X_REQUEST_ID="proxy-id-42")
    assert response["X-Request-ID"] == "proxy-id-42"

    [line] = [r for r in json_lines.records() if r["logger"] == "enclave.request"]
    assert line["request_id"] == "proxy-id-42"
    assert line["route"] == resolve("/api/v1/channels/").view_name
    assert line["method"] == "GET"
    assert line["status"] == 200
    assert line["latency_ms"] > 0
    assert line["user_id"] == user.pk


@pytest.mark.django_db(transaction=True)
async def test_a_websocket_send_leaves_json_lines_sharing_its_correlation_id_without_its_body(
    ws_connect: Any,
    make_user: Callable[..., User],
    make_channel: Callable[..., Channel],
    json_lines: JsonLines,
) -> None:
    alice = await sync_to_async(make_user)()
    channel = await sync_to_async(make_channel)(members=(alice,))
    socket = await ws_connect(alice)
    client_msg_id = str(uuid.uuid4())
    body = "quarterly numbers: do not log me 7f3a"
    ack = await socket.ask(
        {
            "v": 1,
            "type": "message.send",
            "ref": 1,
            "channel_id": channel.pk,
            "body": body,
            "client_msg_id": client_msg_id,
        }
    )
    assert ack["type"] == "ack"
    await socket.event("message.new")
    await socket.disconnect()

    records = json_lines.records()
    assert body not in json_lines.text()
    trail = [r for r in records if r.get("correlation_id") == client_msg_id]
    messages = [r["message"] for r in trail]
    assert any(m.startswith("message.send received") for m in messages), messages
    assert any(m.startswith("message.send committed") for m in messages), messages
    assert "event published" in messages
    assert any(m.startswith("event delivered") for m in messages), messages
    received = next(r for r in trail if r["message"].startswith("message.send received"))
    assert received["user_id"] == alice.pk
    assert received["connection_id"] == socket.hello["connection_id"]
    opened = next(r for r in records if r["message"] == "socket opened")
    assert opened["user_id"] == alice.pk
    assert opened["connection_id"] == socket.hello["connection_id"]


def test_a_celery_task_logs_with_its_name_and_id(
    db: Any, json_lines: JsonLines, monkeypatch: pytest.MonkeyPatch
) -> None:
    from apps.files import services as files_services
    from apps.files.tasks import purge_deleted_attachments

    def purge() -> int:
        logging.getLogger("apps.files.services").warning("purging inside the task")
        return 0

    monkeypatch.setattr(files_services, "attachments_purge_deleted", purge)
    result = purge_deleted_attachments.delay()  # eager in the tests: the worker's signals
    logging.getLogger("enclave.test").warning("after the task")

    records = {r["message"]: r for r in json_lines.records()}
    inside = records["purging inside the task"]
    assert inside["task_name"] == "apps.files.tasks.purge_deleted_attachments"
    assert inside["task_id"] == result.id
    assert "task_name" not in records["after the task"]


def test_the_logging_config_applies_and_writes_json(tmp_path: Path) -> None:
    config = logging_config(log_format="json", level="INFO")
    stream_config = {**config, "handlers": {**config["handlers"]}}
    stream_config["handlers"]["console"] = {
        **config["handlers"]["console"],
        "class": "logging.FileHandler",
        "filename": str(tmp_path / "out.log"),
    }
    code = (
        "import logging, logging.config, json, sys\n"
        "logging.config.dictConfig(json.loads(sys.argv[1]))\n"
        "logging.getLogger('uvicorn.error').info('Started server process')\n"
        "logging.getLogger('celery.worker').warning('a worker line')\n"
        "logging.getLogger('uvicorn.access').info('an access line, off')\n"
    )
    subprocess.run(
        [sys.executable, "-c", code, json.dumps(stream_config)], cwd=ROOT, check=True, timeout=30
    )
    lines = [json.loads(line) for line in (tmp_path / "out.log").read_text().splitlines()]
    assert [(line["logger"], line["message"]) for line in lines] == [
        ("uvicorn.error", "Started server process"),
        ("celery.worker", "a worker line"),
    ]


def test_the_shipped_uvicorn_log_config_is_the_one_the_code_builds() -> None:
    shipped = json.loads((ROOT / "deploy/logging/uvicorn-log-config.json").read_text())
    assert shipped == uvicorn_log_config("json")


def test_uvicorn_starts_with_the_shipped_log_config_and_logs_json(tmp_path: Path) -> None:
    """uvicorn's own start-up lines, before the application is imported, are JSON too."""
    code = (
        "import uvicorn\n"
        "config = uvicorn.Config('tests.ops.test_logging:_no_app', "
        "log_config='deploy/logging/uvicorn-log-config.json')\n"
        "import logging; logging.getLogger('uvicorn.error').info('Waiting for application')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    [line] = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert line["logger"] == "uvicorn.error"
    assert line["message"] == "Waiting for application"


def test_production_settings_default_to_json_and_the_embedded_mode_to_text() -> None:
    code = (
        "import django; django.setup()\n"
        "from django.conf import settings\n"
        "print(settings.LOGGING['formatters']['enclave']['()'])\n"
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ENCLAVE_LOG")},
        "SECRET_KEY": "x" * 50,
        "ENCLAVE_ALLOWED_HOSTS": "chat.example.com",
    }
    formatters = {}
    for module in ("config.settings.production", "config.settings.local"):
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
            env={**env, "DJANGO_SETTINGS_MODULE": module},
        )
        formatters[module] = done.stdout.strip()
    assert formatters == {
        "config.settings.production": "apps.ops.logs.JsonFormatter",
        "config.settings.local": "apps.ops.logs.TextFormatter",
    }


def _no_app(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover - never served
    raise AssertionError("not served")


def test_the_elasticsearch_template_maps_every_field_of_the_schema() -> None:
    from apps.ops.logs import SCHEMA_FIELDS

    template = json.loads((ROOT / "deploy/logging/elasticsearch-index-template.json").read_text())
    mapped = set(template["template"]["mappings"]["properties"])
    # `timestamp` becomes @timestamp in Logstash (deploy/logging/logstash-enclave.conf).
    assert (SCHEMA_KEYS - {"timestamp"}) | set(SCHEMA_FIELDS) <= mapped | {"timestamp"}
    assert "@timestamp" in mapped


def test_filebeat_reads_the_lines_as_ndjson() -> None:
    import yaml

    config = yaml.safe_load((ROOT / "deploy/logging/filebeat.yml").read_text())
    [enclave_input] = config["filebeat.inputs"]
    assert enclave_input["type"] == "filestream"
    assert "ndjson" in enclave_input["parsers"][0]
