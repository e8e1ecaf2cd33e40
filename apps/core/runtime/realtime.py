"""Per-process real-time fan-out: one registry of local sockets, one broadcast subscription.

Every app process keeps one `Hub` on its event loop. Sockets register under topics (`user.7`,
`chan.42`, `presence.7`); an event names the topics it is for. `publish` sends the event's
pre-serialised frame ONCE to a single Redis pub/sub channel that every app process subscribes
to, and each process writes that same frame straight to its own sockets of those topics: no
per-recipient message, queue, task or decode, and no Redis round trip per socket.
The events a process publishes in one turn of its event loop (a send batch's messages) travel
as one pub/sub message: one PUBLISH, and one message for each subscriber to read.
Like Mattermost's cluster bus, every process sees every event and filters locally: one small
decode per event per process, and no per-topic SUBSCRIBE that could race a socket's join.

Without Redis (the embedded single-process mode) the hub delivers in-process.

Pushes stay at-most-once hints (docs/architecture/realtime.md). When the subscription breaks,
the hub reconnects and tells every local socket to catch up over REST (a `resync` event): pushes
published while it was away are gone, the stored history is not.

Thread safety: `publish` may be called from any thread (the worker thread that committed, a
Celery task); registry changes happen on the hub's event loop only.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import struct
import threading
import time
import weakref
from collections.abc import Collection, Iterable, Iterator
from functools import lru_cache
from typing import Any, Protocol
from urllib.parse import parse_qs, urlparse

import orjson
from django.conf import settings

from apps.core.metrics import REALTIME_BUS_LAG, REALTIME_DELIVERIES, REALTIME_FANOUT
from apps.core.runtime.wsframes import text_frame

logger = logging.getLogger(__name__)
# The trail of a message (its correlation id, the client_msg_id) through publication and
# delivery: off unless ENCLAVE_LOG_MESSAGE_TRAIL (apps/ops/logs.py).
trail = logging.getLogger("enclave.messages")
# The bus lag and fan-out histograms take at most one observation per this many seconds per
# process (the first bus message after a pause always), and the deliveries counted meanwhile
# reach their counter then (or this long after, by a timer): an observation costs 3-5 µs, an
# increment 0.5-1.5, and a process receives every bus message of the installation.
OBSERVE_EVERY = 0.01

RESYNC_FRAME = orjson.dumps({"v": 1, "type": "resync"}).decode()
RESUBSCRIBE_MAX_DELAY = 1.0  # seconds between attempts to subscribe again, before jitter


class Subscriber(Protocol):
    """A socket as the hub sees it (apps.chat.consumers.ClientConsumer)."""

    def deliver_now(self, frame: str, channel_id: int | None, wire: bytes) -> bool:
        """Deliver without awaiting if it can (True); False: the hub awaits `deliver`."""

    async def deliver(self, frame: str, channel_id: int | None, wire: bytes) -> None:
        """`frame` as text, and `wire`: the same as a whole WebSocket frame (wsframes)."""

    async def control(self, message: dict[str, Any]) -> None: ...


# A pub/sub message is one or more records, each its length then its bytes.
_LENGTH = struct.Struct("!I")
# A batch larger than this is published as several messages (Redis takes up to 512 MB).
MAX_MESSAGE_BYTES = 1 << 20


def encode(topics: Iterable[str], message: dict[str, Any]) -> bytes:
    """One record: a JSON header line (topics, channel id, control, correlation id `cid`,
    publication time `t` in Unix microseconds for the bus lag metric: an integer, so records of
    the same event have the same length), then the raw frame."""
    header = {k: v for k, v in message.items() if k != "frame"}
    header["g"] = list(topics)
    header["t"] = int(time.time() * 1_000_000)
    frame = message.get("frame")
    record = orjson.dumps(header) + b"\n" + (frame.encode() if frame else b"")
    return _LENGTH.pack(len(record)) + record


def decode(payload: bytes) -> Iterator[tuple[dict[str, Any], str]]:
    """The records of a pub/sub message, in order: (header, frame)."""
    offset, end = 0, len(payload)
    while offset < end:
        (length,) = _LENGTH.unpack_from(payload, offset)
        offset += _LENGTH.size
        record = payload[offset : offset + length]
        if len(record) != length:
            raise ValueError("a truncated real-time record")
        offset += length
        head, _sep, frame = record.partition(b"\n")
        yield orjson.loads(head), frame.decode()


def messages_of(records: list[bytes]) -> list[bytes]:
    """Records joined into as few pub/sub messages as MAX_MESSAGE_BYTES allows, in order."""
    messages: list[bytes] = []
    current: list[bytes] = []
    size = 0
    for record in records:
        if current and size + len(record) > MAX_MESSAGE_BYTES:
            messages.append(b"".join(current))
            current, size = [], 0
        current.append(record)
        size += len(record)
    if current:
        messages.append(b"".join(current))
    return messages


def channel_name() -> str:
    """The bus's pub/sub channel. Redis' pub/sub ignores database numbers (a PUBLISH reaches
    the subscribers of every database), so two installations sharing one Redis under different
    database numbers would deliver each other's events: a database other than 0 is part of the
    name. Database 0 keeps the plain name, which every release so far has used."""
    database = _database_number(realtime_url())
    prefix = settings.ENCLAVE_REALTIME_PREFIX
    return f"{prefix}:rt" if database == 0 else f"{prefix}:db{database}:rt"


@lru_cache(maxsize=8)
def _database_number(url: str | None) -> int:
    """The database a Redis URL selects, as redis-py reads it (`?db=` before the path)."""
    if not url:
        return 0
    parsed = urlparse(url)
    query = parse_qs(parsed.query).get("db")
    candidate = query[0] if query else parsed.path.lstrip("/")
    try:
        return int(candidate) if candidate else 0
    except ValueError:
        return 0


class Hub:
    """The registry of this process's sockets and the delivery of published events."""

    def __init__(self, loop: asyncio.AbstractEventLoop, url: str | None) -> None:
        self.loop = loop
        self.url = url
        self.channel = channel_name()
        # Shown by Redis' CLIENT LIST: which installation and process a connection belongs to.
        self.client_name = f"{self.channel.replace(':', '-')}-{os.getpid()}"
        self.topics: dict[str, set[Subscriber]] = {}
        self.subscribers = 0
        self.running = False
        self._lock = asyncio.Lock()
        self._listener: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[None] | None = None
        self._outbox: list[bytes] = []
        self._flusher: asyncio.Task[None] | None = None
        self._redis: Any = None
        self._observed_at = 0.0
        self._uncounted_deliveries = 0
        self._count_timer: asyncio.TimerHandle | None = None

    # --- registry (event-loop thread only) --------------------------------------------------

    def add(self, subscriber: Subscriber, topics: Iterable[str]) -> None:
        for topic in topics:
            self.topics.setdefault(topic, set()).add(subscriber)

    def discard(self, subscriber: Subscriber, topics: Iterable[str]) -> None:
        for topic in topics:
            members = self.topics.get(topic)
            if members is not None:
                members.discard(subscriber)
                if not members:
                    del self.topics[topic]

    async def attach(self) -> None:
        """Count a socket in; the first one starts the subscription (and waits until it holds)."""
        async with self._lock:
            self.subscribers += 1
            if not self.running:
                await self._start()

    async def detach(self, subscriber: Subscriber, topics: Iterable[str]) -> None:
        self.discard(subscriber, topics)
        async with self._lock:
            self.subscribers -= 1
            if self.subscribers <= 0 and self.running:
                await self._stop()

    # --- delivery -----------------------------------------------------------------------------

    async def deliver(self, payload: bytes) -> None:
        """Every record of a pub/sub message to its local sockets, in order.

        Metrics per pub/sub message, never per socket, and sampled (OBSERVE_EVERY): the bus
        lag, the fan-out time and the deliveries counted since the last sample."""
        received = time.time()
        published: int | None = None
        deliveries = 0
        with_trail = trail.isEnabledFor(logging.INFO)
        for header, frame in decode(payload):
            if published is None:
                published = header.get("t")
            topics = header["g"]
            if len(topics) == 1:  # the common case: one channel's members, no set to build
                targets: Collection[Subscriber] = tuple(self.topics.get(topics[0], ()))
            else:
                union: set[Subscriber] = set()
                for topic in topics:
                    members = self.topics.get(topic)
                    if members:
                        union.update(members)
                targets = union
            if header.get("type") == "client.control":
                header.pop("t", None)  # the bus's own field: controls arrive as published
                await self._hand_to(targets, control=header)
            elif targets:
                deliveries += len(targets)
                if with_trail and "cid" in header:
                    trail.info(
                        "event delivered to %d local sockets",
                        len(targets),
                        extra={"correlation_id": header["cid"]},
                    )
                await self._hand_to(targets, frame=frame, channel_id=header.get("channel_id"))
        self._uncounted_deliveries += deliveries
        if received - self._observed_at >= OBSERVE_EVERY:
            self._observed_at = received
            if published is not None:
                REALTIME_BUS_LAG.observe(max(0.0, received - published / 1_000_000))
            REALTIME_FANOUT.observe(time.time() - received)
            self._count_deliveries()
        elif self._uncounted_deliveries and self._count_timer is None:
            self._count_timer = self.loop.call_later(OBSERVE_EVERY, self._count_deliveries)

    def _count_deliveries(self) -> None:
        if self._count_timer is not None:
            self._count_timer.cancel()
            self._count_timer = None
        if self._uncounted_deliveries:
            REALTIME_DELIVERIES.inc(self._uncounted_deliveries)
            self._uncounted_deliveries = 0

    async def _hand_to(
        self,
        subscribers: Iterable[Subscriber],
        *,
        frame: str = "",
        channel_id: int | None = None,
        control: dict[str, Any] | None = None,
    ) -> None:
        """Give a frame (or a control message) to each subscriber; one broken socket must not
        starve the others. The frame is put on the wire once for all of them."""
        wire = text_frame(frame.encode()) if control is None else b""
        for subscriber in subscribers:
            try:
                if control is not None:
                    await subscriber.control(control)
                # No coroutine per socket in the common case: 56,000 deliveries a second at
                # the mixed workload's peak.
                elif not subscriber.deliver_now(frame, channel_id, wire):
                    await subscriber.deliver(frame, channel_id, wire)
            except Exception:
                logger.exception("real-time delivery to a socket failed")

    def _everyone(self) -> set[Subscriber]:
        return {subscriber for members in self.topics.values() for subscriber in members}

    # --- publishing ---------------------------------------------------------------------------

    def publish_threadsafe(self, payload: bytes) -> bool:
        """Queue a payload from any thread; False if this hub can no longer take it."""
        if not self.running or self.loop.is_closed():
            return False
        try:
            self.loop.call_soon_threadsafe(self._enqueue, payload)
        except RuntimeError:  # the loop closed between the check and the call
            return False
        return True

    def _enqueue(self, payload: bytes) -> None:
        self._outbox.append(payload)
        if self._flusher is None or self._flusher.done():
            self._flusher = self.loop.create_task(self._flush())

    async def _flush(self) -> None:
        """Publish everything queued: one message per batch (a few if it is large), in one
        pipelined round trip."""
        while self._outbox:
            batch, self._outbox = messages_of(self._outbox), []
            if self.url is None:  # in-process: deliver in publishing order
                for payload in batch:
                    await self.deliver(payload)
                continue
            for attempt in (1, 2):
                try:
                    async with self._redis.pipeline(transaction=False) as pipe:
                        for payload in batch:
                            pipe.publish(self.channel, payload)
                        await pipe.execute()
                    break
                except Exception:
                    # A pooled connection that Redis closed fails once; a fresh one is tried.
                    # Then the events (committed) are lost hints: clients converge over REST.
                    if attempt == 2:
                        logger.exception("publishing %d real-time messages failed", len(batch))

    # --- the Redis subscription -----------------------------------------------------------------

    async def _start(self) -> None:
        self.running = True
        if self.url is None:
            return
        import redis.asyncio as aioredis

        self._redis = aioredis.Redis.from_url(
            self.url,
            max_connections=settings.ENCLAVE_REDIS_MAX_CONNECTIONS,
            client_name=self.client_name,
        )
        self._ready = self.loop.create_future()
        self._listener = self.loop.create_task(self._listen())
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), timeout=10)
        except Exception:
            await self._stop()
            raise

    async def _stop(self) -> None:
        self.running = False
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
        if self._flusher is not None and not self._flusher.done():
            await asyncio.gather(self._flusher, return_exceptions=True)
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def _listen(self) -> None:
        delay = 0.1
        first = True
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                # Wait for the confirmation: from here on, nothing published is missed.
                while True:
                    message = await pubsub.get_message(timeout=5)
                    if message is not None and message["type"] == "subscribe":
                        break
                if first:
                    first = False
                    if self._ready is not None and not self._ready.done():
                        self._ready.set_result(None)
                else:
                    logger.warning("real-time subscription restored; asking sockets to resync")
                    await self._hand_to(self._everyone(), frame=RESYNC_FRAME)
                    # Controls (join, leave, close) may have been lost too: re-check.
                    await self._hand_to(
                        self._everyone(),
                        control={"type": "client.control", "action": "refresh"},
                    )
                delay = 0.1
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
                    if message is not None and message["type"] == "message":
                        await self.deliver(message["data"])
            except asyncio.CancelledError:
                await pubsub.aclose()
                raise
            except Exception as error:
                if first and self._ready is not None and not self._ready.done():
                    self._ready.set_exception(error)
                    await pubsub.aclose()
                    return
                logger.warning("real-time subscription lost (%s); retrying in %.1fs", error, delay)
                await pubsub.aclose()
                await asyncio.sleep(delay * (0.5 + random.random()))  # noqa: S311 - jitter
                # At most about a second apart: a restarted Redis is subscribed to again
                # within a second (tests/load/chaos/ measured 2.3 s with a 5-s cap), and a
                # refused connection costs a dead server nothing.
                delay = min(delay * 2, RESUBSCRIBE_MAX_DELAY)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()
# The same hubs as a plain list for `publish`, kept by `hub()` (a replaced hub, or one whose
# loop closed, leaves it when `hub()` next makes one; a stopped hub is skipped by `running`).
_hub_list: list[Hub] = []
_hubs_lock = threading.Lock()


def _running_hubs() -> list[Hub]:
    """The running hubs of this process. Called once per published event (a send batch of 256
    publishes 256 times): a list copy under the lock, not a walk of the WeakKeyDictionary,
    which was 5 % of a busy server's samples at the reference peak."""
    with _hubs_lock:
        return [h for h in _hub_list if h.running]


def realtime_url() -> str | None:
    return settings.ENCLAVE_REALTIME_URL or None


def hub() -> Hub:
    """This event loop's hub (created on first use)."""
    loop = asyncio.get_running_loop()
    with _hubs_lock:
        current = _hubs.get(loop)
        if current is None or (not current.running and current.subscribers <= 0):
            current = Hub(loop, realtime_url())
            _hubs[loop] = current
            _hub_list[:] = [h for h in _hubs.values() if not h.loop.is_closed()]
        return current


@lru_cache(maxsize=4)
def _sync_client(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url)


def publish(topics: list[str], message: dict[str, Any]) -> None:
    """Send an event (or a control message) to every socket of `topics`, in every process.

    From any thread. Hands the payload to a running hub of this process when there is one
    (its event loop batches the PUBLISHes), else publishes directly (a Celery worker).
    """
    payload = encode(topics, message)
    if "cid" in message and trail.isEnabledFor(logging.INFO):
        trail.info("event published", extra={"correlation_id": message["cid"]})
    hubs = _running_hubs()
    url = realtime_url()
    if url is None:
        # In-process only: every hub of this process delivers (there is normally one).
        for local in hubs:
            local.publish_threadsafe(payload)
        return
    channel = channel_name()
    for local in hubs:
        if local.url == url and local.channel == channel and local.publish_threadsafe(payload):
            return
    _sync_client(url).publish(channel, payload)
