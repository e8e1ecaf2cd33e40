"""Log lines: JSON (one schema, for Filebeat/Logstash/Elasticsearch) or text, one setting.

ENCLAVE_LOG_FORMAT=json|text picks the formatter of every process: Django, uvicorn (its
--log-config file deploy/logging/uvicorn-log-config.json uses the same classes), daphne,
Celery (which keeps Django's configuration: CELERY_WORKER_HIJACK_ROOT_LOGGER is off) and the
WebSocket consumer. A JSON line holds:

    timestamp (ISO 8601, UTC), level, logger, message, process,
    request_id, correlation_id, connection_id, user_id, route, method, status, latency_ms,
    task_name, task_id, exc_info  -- each only when known --
    extra {...}  -- anything else a call passed in `extra=`, never a schema field.

`EnclaveLogFilter`, on every handler, adds the context (apps.core.logcontext) and redacts what
must never reach a log: values of keys named like a secret or a message body (body, password,
token, authorization, cookie, otp, secret, ...), bearer and API tokens and session cookies in
the message text. Nothing in Enclave logs a message body; the filter is the second line.

This module is imported by the settings and by uvicorn before Django is set up: it must not
import Django's settings or any model.
"""

from __future__ import annotations

import logging
import os
import re
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.orjson import OrjsonFormatter

from apps.core import logcontext

# The fields of the schema, in output order after timestamp, level, logger, message, process
# (deploy/logging/elasticsearch-index-template.json maps each of them).
SCHEMA_FIELDS = (
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
)
REDACTED = "[redacted]"
# Keys whose values never reach a log line, compared in lower case, also as a part of a key
# ("new_password", "api_token", "set-cookie", "otp_code").
SENSITIVE_KEY_PARTS = (
    "body",
    "password",
    "passwd",
    "token",
    "authorization",
    "cookie",
    "otp",
    "secret",
    "session",
    "csrf",
    "api_key",
    "private_key",
)
# The same inside free text: "Authorization: Bearer enc_...", "sessionid=...", "?token=...".
_SECRET_IN_TEXT = re.compile(
    r"(?i)(bearer\s+|\benc_|\b(?:token|password|sessionid|csrftoken|otp)=)[^\s&;,\"']+"
)
# LogRecord's own attributes: not "extra".
_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "_enclave",
}
# Objects some libraries pass in `extra` that must not be serialised (Django's `request` has
# the raw path and query string; `scope` and `server` are ASGI internals).
_DROPPED_EXTRAS = frozenset({"request", "scope", "server", "connection"})


def _sensitive(key: str) -> bool:
    lowered = key.lower()
    return any(part in lowered for part in SENSITIVE_KEY_PARTS)


def redact(value: Any, depth: int = 0) -> Any:
    """`value` with the values of sensitive keys replaced, in dicts and lists (a few levels)."""
    if depth > 4:
        return value
    if isinstance(value, dict):
        return {
            key: REDACTED if isinstance(key, str) and _sensitive(key) else redact(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item, depth + 1) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def redact_text(text: str) -> str:
    return _SECRET_IN_TEXT.sub(lambda match: match.group(1) + REDACTED, text)


class EnclaveLogFilter(logging.Filter):
    """On every handler: adds the log context and redacts secrets (see the module docstring).
    Never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_enclave", False):
            return True  # a second handler: already done
        record._enclave = True
        for key, value in logcontext.current().items():
            if key not in record.__dict__:
                setattr(record, key, value)
        for key in list(record.__dict__):
            if key in _RECORD_ATTRIBUTES or key in SCHEMA_FIELDS:
                continue
            if key in _DROPPED_EXTRAS:
                delattr(record, key)
            elif _sensitive(key):
                setattr(record, key, REDACTED)
            else:
                setattr(record, key, redact(record.__dict__[key]))
        if isinstance(record.args, dict):
            record.args = redact(record.args)
        elif record.args:
            record.args = tuple(
                REDACTED if isinstance(arg, str) and _SECRET_IN_TEXT.search(arg) else arg
                for arg in record.args
            )
        if isinstance(record.msg, str) and _SECRET_IN_TEXT.search(record.msg):
            record.msg = redact_text(record.msg)
        return True


def _json_default(value: Any) -> Any:
    return str(value)


class JsonFormatter(OrjsonFormatter):
    """One JSON object per line in Enclave's schema (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("json_default", _json_default)
        super().__init__(*args, **kwargs)
        self.pid = os.getpid()

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["timestamp"] = (
            datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")
        ).replace("+00:00", "Z")
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        log_data["message"] = redact_text(record.getMessage())
        log_data["process"] = record.process
        attributes = record.__dict__
        for field in SCHEMA_FIELDS:
            value = attributes.get(field)
            if value is not None:
                log_data[field] = value
        extra = {
            key: value
            for key, value in attributes.items()
            if key not in _RECORD_ATTRIBUTES
            and key not in SCHEMA_FIELDS
            and key not in _DROPPED_EXTRAS
            and value is not None
        }
        for key, value in message_dict.items():  # logger.info({...}) or exc_info/stack_info
            if key in ("exc_info", "stack_info"):
                log_data[key] = value
            else:
                extra[key] = value
        if extra:
            log_data["extra"] = redact(extra)


class TextFormatter(logging.Formatter):
    """`time level logger message`, then the context fields that are set (key=value)."""

    def __init__(self, fmt: str | None = None, **kwargs: Any) -> None:
        super().__init__(fmt or "%(asctime)s %(levelname)s %(name)s %(message)s", **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        attributes = record.__dict__
        fields = [
            f"{field}={attributes[field]}"
            for field in SCHEMA_FIELDS
            if attributes.get(field) is not None
        ]
        if not fields:
            return line
        head, newline, rest = line.partition("\n")  # a traceback stays below the fields
        return f"{head} [{' '.join(fields)}]{newline}{rest}"


FORMATTERS = {
    "json": {"()": "apps.ops.logs.JsonFormatter"},
    "text": {"()": "apps.ops.logs.TextFormatter"},
}


def logging_config(
    *, log_format: str, level: str = "INFO", requests: bool = True, message_trail: bool = False
) -> dict[str, Any]:
    """Django's LOGGING for `log_format` ("json" or "text"): one console handler (stderr) for
    every logger, Django's, uvicorn's, daphne's and Celery's included. `message_trail` turns on
    the `enclave.messages` lines: each WebSocket send received, committed, published and
    delivered, by correlation id (four lines or more per message: off by default at 1,000
    msg/s)."""
    if log_format not in FORMATTERS:
        raise ValueError(f"ENCLAVE_LOG_FORMAT must be json or text, not {log_format!r}")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"enclave": {"()": "apps.ops.logs.EnclaveLogFilter"}},
        "formatters": {"enclave": FORMATTERS[log_format]},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "enclave",
                "filters": ["enclave"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django's and the servers' own loggers go to the root's handler, once.
            "django": {"handlers": [], "level": level, "propagate": True},
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            # The request middleware logs every request with its id, route, status, latency
            # and user; the servers' access lines would repeat it without them.
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": True},
            "django.channels.server": {"level": "WARNING"},
            "daphne": {"level": "WARNING"},
            # Django logs every 4xx/5xx with the request's raw path: the request line has it
            # with the route instead. Errors (5xx) keep their traceback here.
            "django.request": {"level": "ERROR"},
            "celery": {"handlers": [], "level": level, "propagate": True},
            "enclave.request": {"level": "INFO" if requests else "WARNING"},
            "enclave.messages": {"level": "INFO" if message_trail else "WARNING"},
        },
    }


def uvicorn_log_config(log_format: str = "json") -> dict[str, Any]:
    """uvicorn's --log-config (deploy/logging/uvicorn-log-config.json): its lines before the
    application loads (start-up, workers) in the same format. Django's LOGGING takes over
    when the application is imported."""
    config = logging_config(log_format=log_format)
    config["loggers"] = {
        name: logger for name, logger in config["loggers"].items() if name.startswith("uvicorn")
    }
    return config
