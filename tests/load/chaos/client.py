"""The chaos run's clients: one reconnecting WebSocket per person, behaving as the web client does.

- **Outbox** (static/js/outbox.js): a message stays in the outbox until its ack. A socket that
  closes loses the acks it was owed; the person reconnects and sends every outboxed message
  again with the SAME `client_msg_id` (the server stores it once and acks a resend with
  `duplicate: true`). An error the server marks as worth retrying (`unavailable`,
  `internal_error`, `timeout`, `rate_limited`) is retried after a second; no answer within
  `ACK_TIMEOUT` counts as a timeout and is retried too.
- **Reconnect** (static/js/socket.js): jittered exponential backoff from 250 ms to 5 s, each
  attempt to the next server in turn (as a load balancer gives a dead upstream's clients to the
  others).
- **Catch-up** (static/js/sync.js): pushes are at most once, so after every `hello`, on every
  `resync` frame and when a hole in a room's sequence stays open for `HOLE_GRACE` seconds, the
  person fetches the room's history after the highest sequence it holds without a gap
  (`GET /api/v1/channels/<id>/messages/?after_seq=N`, paging on `version`).

Each person's view of a room is that high-water mark plus the sequences seen above it. The run
records when each message first reached each member's view (push or catch-up), which the
analysis turns into the time to recover from each fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
import uuid
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson

from tests.load.harness import leanws
from tests.load.harness.leanws import HandshakeFailed, LeanSocket

RETRYABLE = frozenset({"unavailable", "internal_error", "timeout", "rate_limited"})
ACK_TIMEOUT = 10.0
RETRY_AFTER = 1.0
HOLE_GRACE = 1.0
BACKOFF_FIRST, BACKOFF_MAX = 0.25, 5.0
CATCH_UP_PAGE = 200
CATCH_UP_CONCURRENCY = 16


@dataclass
class Outgoing:
    client_msg_id: str
    sender_id: int
    channel_id: int
    body: str
    first_sent: float
    transmitted: float = 0.0  # last time it went out on a socket (0: waiting for one)
    retry_at: float = 0.0  # a retryable error asked to send it again at this time


@dataclass
class RoomView:
    high: int = 0  # every seq <= high is held
    above: set[int] = field(default_factory=set)
    hole_since: float = 0.0  # when a seq above high + 1 was first seen without high + 1

    def add(self, seq: int, now: float) -> bool:
        """Record seq; True if it is new to this view."""
        if seq <= self.high or seq in self.above:
            return False
        self.above.add(seq)
        while self.high + 1 in self.above:
            self.high += 1
            self.above.discard(self.high)
        self.hole_since = (self.hole_since or now) if self.above else 0.0
        return True


@dataclass
class Person:
    user_id: int
    token: str
    rooms: list[int]
    views: dict[int, RoomView]
    ws: LeanSocket | None = None
    ready: bool = False
    refs: dict[int, str] = field(default_factory=dict)  # ref -> client_msg_id, this socket
    outbox: dict[str, Outgoing] = field(default_factory=dict)
    server: int = 0
    catching_up: set[int] = field(default_factory=set)


@dataclass
class Record:
    """What the clients saw, for the audit and the recovery analysis."""

    sends: dict[str, Outgoing] = field(default_factory=dict)
    # client_msg_id -> (message id, channel id, seq, duplicate, ack time)
    acks: dict[str, tuple[int, int, int, bool, float]] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)  # client_msg_id -> final error code
    error_counts: Counter[str] = field(default_factory=Counter)
    close_codes: Counter[str] = field(default_factory=Counter)
    connect_failures: Counter[str] = field(default_factory=Counter)
    reconnects: int = 0
    resends: int = 0
    resyncs: int = 0
    catch_ups: int = 0
    catch_up_failures: Counter[str] = field(default_factory=Counter)
    # (channel id, seq) -> message id, as first seen; a different id later is a mismatch.
    identity: dict[tuple[int, int], int] = field(default_factory=dict)
    identity_mismatches: int = 0
    # One entry per (message, member view) the first time the view got it.
    view_message_ids: array[int] = field(default_factory=lambda: array("q"))
    view_times: array[float] = field(default_factory=lambda: array("d"))


class Crowd:
    """Every person's socket, outbox and views, on one event loop."""

    def __init__(
        self,
        people: list[Person],
        ws_urls: list[str],
        *,
        rate: float,
        body_size: int,
        seed: int,
    ) -> None:
        self.people = people
        self.by_id = {person.user_id: person for person in people}
        self.ws_urls = ws_urls
        self.rate = rate
        self.body_size = body_size
        self.random = random.Random(seed)
        self.record = Record()
        self.refs = itertools.count(1)
        self.stopping = False
        self.catch_up_slots = asyncio.Semaphore(CATCH_UP_CONCURRENCY)
        self.tasks: set[asyncio.Task[None]] = set()

    # --- counts the run watches -----------------------------------------------------------------

    @property
    def connected(self) -> int:
        return sum(1 for person in self.people if person.ready)

    @property
    def outboxed(self) -> int:
        return sum(len(person.outbox) for person in self.people)

    def holes(self) -> int:
        return sum(1 for person in self.people for view in person.views.values() if view.above)

    # --- connections ----------------------------------------------------------------------------

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def connect_all(self, ramp: float) -> None:
        for position, person in enumerate(self.people):
            person.server = position % len(self.ws_urls)
            self._spawn(self._keep_connected(person))
            await asyncio.sleep(1.0 / ramp)

    async def _keep_connected(self, person: Person) -> None:
        backoff = BACKOFF_FIRST
        first = True
        while not self.stopping:
            failure = await self._connect_once(person)
            if failure is None:
                if not first:
                    self.record.reconnects += 1
                first = False
                backoff = BACKOFF_FIRST
                assert person.ws is not None
                code = await person.ws.closed
                person.ready = False
                person.ws = None
                person.refs.clear()
                if self.stopping:
                    return
                self.record.close_codes[str(code)] += 1
            else:
                self.record.connect_failures[failure] += 1
            person.server = (person.server + 1) % len(self.ws_urls)
            await asyncio.sleep(backoff * self.random.uniform(0.5, 1.5))
            backoff = min(BACKOFF_MAX, backoff * 2)

    async def _connect_once(self, person: Person) -> str | None:
        url = f"{self.ws_urls[person.server]}?token={person.token}"
        try:
            async with asyncio.timeout(10):
                ws, first = await leanws.connect(url, lambda raw: self._on_frame(person, raw))
        except HandshakeFailed as error:
            return f"http_{error.status}"
        except TimeoutError:
            return "timeout"
        except Exception as error:  # refused, reset: count them by kind
            return type(error).__name__
        if orjson.loads(first).get("type") != "hello":
            ws.abort()
            return "no_hello"
        person.ws = ws
        person.ready = True
        for channel_id in person.rooms:
            self._spawn(self.catch_up(person, channel_id))
        for outgoing in list(person.outbox.values()):
            self.record.resends += 1
            self._transmit(person, outgoing)
        return None

    async def close_all(self) -> None:
        self.stopping = True
        sockets = [person.ws for person in self.people if person.ws is not None]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(20):
                await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
        for task in list(self.tasks):
            task.cancel()

    # --- receiving ------------------------------------------------------------------------------

    def _on_frame(self, person: Person, raw: bytes) -> None:
        frame = orjson.loads(raw)
        kind = frame.get("type")
        if kind == "message.new":
            message = frame["message"]
            self._seen(person, int(message["channel_id"]), int(message["seq"]), int(message["id"]))
        elif kind == "ack":
            self._on_ack(person, frame)
        elif kind == "error":
            self._on_error(person, frame)
        elif kind == "resync":
            self.record.resyncs += 1
            for channel_id in person.rooms:
                self._spawn(self.catch_up(person, channel_id))

    def _seen(self, person: Person, channel_id: int, seq: int, message_id: int) -> None:
        view = person.views.get(channel_id)
        if view is None:
            return
        now = time.time()
        known = self.record.identity.setdefault((channel_id, seq), message_id)
        if known != message_id:
            self.record.identity_mismatches += 1
        if view.add(seq, now):
            self.record.view_message_ids.append(message_id)
            self.record.view_times.append(now)

    def _on_ack(self, person: Person, frame: dict[str, Any]) -> None:
        client_msg_id = person.refs.pop(frame.get("ref", -1), None)
        if client_msg_id is None:
            return
        outgoing = person.outbox.pop(client_msg_id, None)
        if outgoing is None:
            return
        self.record.acks.setdefault(
            client_msg_id,
            (
                int(frame["message_id"]),
                int(frame["channel_id"]),
                int(frame["seq"]),
                bool(frame.get("duplicate")),
                time.time(),
            ),
        )

    def _on_error(self, person: Person, frame: dict[str, Any]) -> None:
        code = str(frame.get("code"))
        self.record.error_counts[code] += 1
        client_msg_id = person.refs.pop(frame.get("ref", -1), None)
        if client_msg_id is None or client_msg_id not in person.outbox:
            return
        if code in RETRYABLE:
            person.outbox[client_msg_id].retry_at = time.monotonic() + RETRY_AFTER
        else:
            person.outbox.pop(client_msg_id)
            self.record.refused[client_msg_id] = code

    # --- catch-up -------------------------------------------------------------------------------

    async def catch_up(self, person: Person, channel_id: int) -> None:
        """Fetch the room's history after the view's high-water mark, as sync.js does."""
        if channel_id in person.catching_up:
            return
        person.catching_up.add(channel_id)
        self.record.catch_ups += 1
        try:
            async with self.catch_up_slots:
                view = person.views[channel_id]
                after = view.high
                while True:
                    page = await self._get(
                        person,
                        f"/api/v1/channels/{channel_id}/messages/"
                        f"?after_seq={after}&limit={CATCH_UP_PAGE}",
                    )
                    for message in page["messages"]:
                        after = max(after, int(message["version"]))
                        self._seen(person, channel_id, int(message["seq"]), int(message["id"]))
                    if not page.get("has_more_after"):
                        break
        except Exception as error:  # the server or the database is down: the next trigger retries
            self.record.catch_up_failures[type(error).__name__] += 1
        finally:
            person.catching_up.discard(channel_id)

    async def _get(self, person: Person, path: str) -> dict[str, Any]:
        parts = urlsplit(self.ws_urls[person.server])
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        async with asyncio.timeout(10):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                writer.write(
                    f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                    f"Authorization: Bearer {person.token}\r\nConnection: close\r\n\r\n".encode()
                )
                raw = await reader.read()
            finally:
                writer.close()
        head, _, body = raw.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if status != 200:
            raise ConnectionError(f"HTTP {status}")
        if b"transfer-encoding: chunked" in head.lower():
            body = _unchunk(body)
        result: dict[str, Any] = orjson.loads(body)
        return result

    # --- sending --------------------------------------------------------------------------------

    def _transmit(self, person: Person, outgoing: Outgoing) -> None:
        if person.ws is None or not person.ready:
            outgoing.transmitted = 0.0
            return
        ref = next(self.refs)
        person.refs[ref] = outgoing.client_msg_id
        outgoing.transmitted = time.monotonic()
        outgoing.retry_at = 0.0
        frame = {
            "v": 1,
            "type": "message.send",
            "ref": ref,
            "channel_id": outgoing.channel_id,
            "client_msg_id": outgoing.client_msg_id,
            "body": outgoing.body,
        }
        if not person.ws.send_text(orjson.dumps(frame).decode()):
            person.refs.pop(ref, None)
            outgoing.transmitted = 0.0

    def _body(self, serial: int) -> str:
        head = f"chaos {serial} "
        filler = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod "
        missing = max(0, self.body_size - len(head))
        return head + (filler * (missing // len(filler) + 1))[:missing].rstrip()

    async def send(self, duration: float) -> None:
        """Send at `rate` for `duration` seconds from people picked at random (connected or
        not: a message written while offline waits in the outbox, as in the web client)."""
        interval = 1.0 / self.rate
        started = time.monotonic()
        for serial in itertools.count():
            target = started + serial * interval
            if target - started >= duration:
                return
            delay = target - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            person = self.random.choice(self.people)
            outgoing = Outgoing(
                client_msg_id=str(uuid.uuid4()),
                sender_id=person.user_id,
                channel_id=self.random.choice(person.rooms),
                body=self._body(serial),
                first_sent=time.time(),
            )
            person.outbox[outgoing.client_msg_id] = outgoing
            self.record.sends[outgoing.client_msg_id] = outgoing
            self._transmit(person, outgoing)

    async def tend(self) -> None:
        """Every 100 ms: retry what asked for it or timed out, and fetch over lasting holes."""
        while not self.stopping:
            await asyncio.sleep(0.1)
            now = time.monotonic()
            wall = time.time()
            for person in self.people:
                for outgoing in list(person.outbox.values()):
                    due = (outgoing.retry_at and outgoing.retry_at <= now) or (
                        outgoing.transmitted and now - outgoing.transmitted > ACK_TIMEOUT
                    )
                    if due and person.ready:
                        self.record.resends += 1
                        self._transmit(person, outgoing)
                if not person.ready:
                    continue
                for channel_id, view in person.views.items():
                    if view.above and wall - view.hole_since > HOLE_GRACE:
                        view.hole_since = wall  # one fetch per grace period
                        self._spawn(self.catch_up(person, channel_id))


def _unchunk(body: bytes) -> bytes:
    out = bytearray()
    while body:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += body[:size]
        body = body[size + 2 :]
    return bytes(out)
