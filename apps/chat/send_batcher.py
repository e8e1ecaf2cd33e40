"""Group commit of `message.send` for every socket of a process: `SendBatcher`.

Moved out of apps/chat/consumers.py (which creates one per event loop, `send_batcher()`, and
re-exports these names); docs/architecture/send-path.md describes it.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.utils.translation import gettext as _

from apps.chat import services
from apps.core.errors import DomainError, Unavailable, database_unavailable
from apps.core.metrics import (
    SEND_ACK_LATENCY,
    SEND_BATCH_DURATION,
    SEND_BATCH_SIZE,
    observe_many,
)
from apps.core.runtime import realtime
from apps.core.runtime.dbthread import socket_db_call

# The consumer's logger: its records keep the name they had before the move.
logger = logging.getLogger("apps.chat.consumers")
# A message's trail (frame received, batch committed; realtime adds publication and
# deliveries), keyed by its correlation id: off unless ENCLAVE_LOG_MESSAGE_TRAIL.
trail = realtime.trail


def _internal_error(error: BaseException | None = None) -> dict[str, Any]:
    """The answer to an operation that failed on an exception that is not a DomainError: a
    database out of reach is `unavailable` (retryable: clients send again with the same id),
    anything else `internal_error` (a bug)."""
    if error is not None and database_unavailable(error):
        unavailable = Unavailable()
        return {
            "ok": False,
            **unavailable.as_dict(),
            "details": {"retry_after_ms": unavailable.retry_after_seconds * 1000},
        }
    return {
        "ok": False,
        "code": "internal_error",
        "message": _("The server could not complete this operation; try again."),
        "details": {},
    }


def _send_ack(result: services.SendResult) -> dict[str, Any]:
    message = result.message
    return {
        "ok": True,
        "message_id": message.pk,
        "channel_id": message.channel_id,
        "seq": message.seq,
        "client_msg_id": str(message.client_msg_id),
        "duplicate": not result.created,
    }


def _run_send_batch(requests: list[services.SendRequest]) -> list[dict[str, Any]]:
    """Worker-thread side of a group commit: every queued send of this process in one call."""
    try:
        outcomes = services.messages_send_batch(requests=requests)
    except Exception as error:
        logger.exception("WebSocket message.send batch of %d failed", len(requests))
        return [_internal_error(error) for _request in requests]
    return [
        {"ok": False, **outcome.as_dict()}
        if isinstance(outcome, DomainError)
        else _send_ack(outcome)
        for outcome in outcomes
    ]


class SendBatcher:
    """Group commit for `message.send` across all sockets of one process (one event loop).

    Sends that arrive while a batch is being written wait and go together in the next one:
    one worker-thread hop, a constant number of statements and one COMMIT per batch instead of
    per message. By default there is no timer: an idle server writes a lone message at once, a
    busy one batches exactly as much as piled up. `window` (ENCLAVE_SEND_BATCH_WINDOW_MS) makes
    a batch of fewer than SMALL_BATCH sends wait that long for more first. Each send is
    acknowledged after its batch committed.

    With `ENCLAVE_SEND_WRITERS` > 1 (PostgreSQL), that many batches are written at once, each
    in its own thread and connection: one batch's COMMIT (an fsync) no longer holds up the
    next. Batches lock their channels' rows in id order, so a channel's `seq` stays dense and
    two batches never deadlock; batches of different channels do not wait for each other.
    """

    MAX_BATCH = 256
    # A batch this small waits `window` seconds for company first (when a window is set).
    SMALL_BATCH = 4

    def __init__(self, writers: int, *, window: float = 0.0) -> None:
        # (request, its ack's future, when it was queued: perf_counter)
        self.pending: list[tuple[services.SendRequest, asyncio.Future[dict[str, Any]], float]] = []
        self.writers = max(1, writers)
        # ENCLAVE_SEND_BATCH_WINDOW_MS: off by default (an idle server writes a lone message at
        # once); with several processes each commits many one-message batches otherwise.
        self.window = max(0.0, window)
        self.active = 0
        self.tasks: set[asyncio.Task[None]] = set()
        self.call = (
            socket_db_call(_run_send_batch)
            if self.writers == 1
            else socket_db_call(
                _run_send_batch, thread_sensitive=False, executor=_writer_pool(self.writers)
            )
        )

    async def submit(self, request: services.SendRequest) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[str, Any]] = loop.create_future()
        self.pending.append((request, future, time.perf_counter()))
        if self.active < self.writers:
            self.active += 1
            # Its own log context: the batch is every socket's, not the first sender's.
            task = loop.create_task(self._drain(), context=contextvars.Context())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return await future

    async def _drain(self) -> None:
        try:
            while self.pending:
                if self.window and len(self.pending) < self.SMALL_BATCH:
                    await asyncio.sleep(self.window)
                batch = self.pending[: self.MAX_BATCH]
                del self.pending[: self.MAX_BATCH]
                started = time.perf_counter()
                try:
                    results = await self.call([request for request, _future, _queued in batch])
                except BaseException as error:
                    for _request, future, _queued in batch:
                        if not future.done():
                            future.set_exception(error)
                    raise
                committed = time.perf_counter()
                for (_request, future, _queued), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
                # Metrics per batch: each observation costs microseconds on the event loop.
                SEND_BATCH_SIZE.observe(len(batch))
                SEND_BATCH_DURATION.observe(committed - started)
                observe_many(SEND_ACK_LATENCY, [committed - queued for _r, _f, queued in batch])
                if trail.isEnabledFor(logging.INFO):
                    _log_batch(batch, results, committed - started)
        finally:
            self.active -= 1


def correlation_id(client_msg_id: object) -> str:
    """A send's correlation id in the logs: its client_msg_id as the services store it."""
    try:
        return str(uuid.UUID(str(client_msg_id)))
    except ValueError:
        return str(client_msg_id)[:64]


def _log_batch(
    batch: list[tuple[services.SendRequest, Any, float]],
    results: list[dict[str, Any]],
    seconds: float,
) -> None:
    for (request, _future, _queued), result in zip(batch, results, strict=True):
        trail.info(
            "message.send %s in a batch of %d",
            "committed" if result.get("ok") else f"refused ({result.get('code')})",
            len(batch),
            extra={
                "correlation_id": correlation_id(request.client_msg_id),
                "user_id": request.sender.pk,
                "latency_ms": round(seconds * 1000, 2),
            },
        )


@functools.cache
def _writer_pool(size: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=size, thread_name_prefix="enclave-send")
