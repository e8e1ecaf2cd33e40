"""One generator process: owns a slice of the users, one WebSocket per user.

The parent drives it through a pipe, phase by phase:

    child  -> ("connected", n_ok, n_failed)    after the ramp
    parent -> ("start", t_start)               wall-clock time at which sending begins
    child  -> ("sent", n_sent, n_pending)      after the send phase, once acks are in
    parent -> ("stop",)                        after the grace period for pushes
    child  -> ("done", result_path)            results pickled to result_path

The process records raw observations only (send and ack times, every push received with its
arrival time); the parent merges all processes and does the analysis and the audit. It never
imports Django: it is a plain protocol client, like any API client.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import pickle
import random
import time
import uuid
from array import array
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import orjson

from tests.load.harness import leanws, libws
from tests.load.harness.leanws import HandshakeFailed, LeanSocket

BODY_MARKER = "load"


@dataclass(frozen=True)
class ClientPlan:
    index: int
    clients: int
    # (user id, raw token, URL) of the users this process owns.
    users: list[tuple[int, str, str]]
    # Rooms of each owned user: (room id, room kind).
    user_rooms: dict[int, list[tuple[int, str]]]
    # Users whose presence each owned user watches (`presence.subscribe` after hello), like a
    # web client showing its DM partners and a member list.
    watch: dict[int, list[int]]
    mix_weights: dict[str, float] | None
    ramp: float  # connections per second for this process
    rate: float  # aggregate messages per second over all processes
    duration: float
    body_size: int
    connect_timeout: float
    connect_retries: int
    ack_timeout: float
    grace: float
    drain_timeout: float
    seed: int
    result_path: str
    client_kind: str = "lean"  # "lean" (leanws) or "websockets" (libws)
    server_name: str = ""  # Host header and TLS SNI when they differ from the URL's host
    tls_insecure: bool = False  # wss:// to a self-signed certificate


@dataclass
class Sent:
    client_msg_id: str
    sender_id: int
    channel_id: int
    sent_at: float
    body: str


@dataclass
class ClientResult:
    index: int
    connected_at: dict[int, float] = field(default_factory=dict)  # user id -> hello received
    disconnected_at: dict[int, float] = field(default_factory=dict)  # unexpected closes
    close_codes: Counter[str] = field(default_factory=Counter)
    connect_errors: Counter[str] = field(default_factory=Counter)  # gave up after retries
    connect_retries: Counter[str] = field(default_factory=Counter)  # failures then retried
    connect_latencies: list[float] = field(default_factory=list)
    sends: list[Sent] = field(default_factory=list)
    # client_msg_id -> (message id, channel id, seq, duplicate, ack time)
    acks: dict[str, tuple[int, int, int, bool, float]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # client_msg_id -> error code
    error_counts: Counter[str] = field(default_factory=Counter)  # every error frame, by code
    # Every message.new received, one entry per (message, recipient socket).
    delivery_message_ids: array[int] = field(default_factory=lambda: array("q"))
    delivery_user_ids: array[int] = field(default_factory=lambda: array("q"))
    delivery_times: array[float] = field(default_factory=lambda: array("d"))
    # message id -> (channel id, seq, client_msg_id, sender id, body) as first pushed.
    pushed: dict[int, tuple[int, int, str | None, int, str]] = field(default_factory=dict)
    push_mismatches: int = 0  # the same message pushed with different content
    event_counts: Counter[str] = field(default_factory=Counter)
    frames_received: int = 0
    bytes_received: int = 0
    send_started: float = 0.0
    send_ended: float = 0.0
    send_lag_max: float = 0.0
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    wall_seconds: dict[str, float] = field(default_factory=dict)


class Generator:
    def __init__(self, plan: ClientPlan, control: Connection) -> None:
        self.plan = plan
        self.control = control
        self.result = ClientResult(index=plan.index)
        self.sockets: dict[int, LeanSocket | libws.LibSocket] = {}
        self.pending: dict[int, Sent] = {}
        self.refs = itertools.count(1)
        self.stopping = False
        self.sending_done = False
        self.all_acked = asyncio.Event()
        self.push_arrived = asyncio.Event()
        self.random = random.Random(plan.seed * 1000 + plan.index)
        self.connector = libws.connect if plan.client_kind == "websockets" else leanws.connect
        self.tls = leanws.tls_context(insecure=plan.tls_insecure)  # one per process
        self.room_sets = {
            uid: {room_id for room_id, _kind in rooms} for uid, rooms in plan.user_rooms.items()
        }

    async def _control(self) -> tuple[Any, ...]:
        loop = asyncio.get_running_loop()
        message: tuple[Any, ...] = await loop.run_in_executor(None, self.control.recv)
        return message

    def _phase(self, name: str, since: tuple[float, float]) -> tuple[float, float]:
        now = (time.monotonic(), time.process_time())
        self.result.wall_seconds[name] = now[0] - since[0]
        self.result.cpu_seconds[name] = now[1] - since[1]
        return now

    async def run(self) -> None:
        mark = (time.monotonic(), time.process_time())
        await self._connect_all()
        mark = self._phase("connect", mark)
        ok = len(self.result.connected_at)
        self.control.send(("connected", ok, self.result.connect_errors.total()))
        command = await self._control()
        if command[0] == "start":
            t_start = float(command[1])
            await asyncio.sleep(max(0.0, t_start - time.time()))
            mark = (time.monotonic(), time.process_time())
            await self._send_phase(t_start)
            mark = self._phase("send", mark)
            await self._await_acks()
            await self._await_quiet()
            self.control.send(("sent", len(self.result.sends), len(self.pending)))
            command = await self._control()
            self._phase("drain", mark)
        self.stopping = True
        await self._close_all()
        for sent in self.pending.values():
            self.result.errors.setdefault(sent.client_msg_id, "no_ack")

    # --- connections ----------------------------------------------------------------------------

    async def _connect_all(self) -> None:
        interval = 1.0 / self.plan.ramp
        started = time.monotonic()
        tasks = []
        for position, (user_id, token, url) in enumerate(self.plan.users):
            delay = started + position * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(self._connect(user_id, token, url)))
        await asyncio.gather(*tasks)

    async def _connect(self, user_id: int, token: str, url: str) -> None:
        """Connect like a real client: on failure retry with jittered exponential backoff."""
        for attempt in range(self.plan.connect_retries + 1):
            failure = await self._connect_once(user_id, token, url)
            if failure is None:
                return
            if attempt == self.plan.connect_retries:
                self.result.connect_errors[failure] += 1
                return
            self.result.connect_retries[failure] += 1
            await asyncio.sleep(min(30.0, 2.0**attempt) * self.random.uniform(0.5, 1.5))

    async def _connect_once(self, user_id: int, token: str, url: str) -> str | None:
        """Open one socket and wait for `hello`; the failure's name, or None."""
        begun = time.time()
        rooms = self.room_sets.get(user_id, set())
        failure: str | None = None
        ws: LeanSocket | libws.LibSocket | None = None
        try:
            async with asyncio.timeout(self.plan.connect_timeout):
                ws, first = await self.connector(
                    f"{url}?token={token}",
                    lambda raw: self._on_frame(user_id, rooms, raw),
                    server_name=self.plan.server_name,
                    tls=self.tls,
                )
                hello = orjson.loads(first)
                if hello.get("type") != "hello":
                    failure = "no_hello"
        except HandshakeFailed as error:
            failure = f"http_{error.status}"
        except TimeoutError:
            failure = "timeout"
        except ConnectionError as error:
            failure = str(error).replace("closed with ", "closed_").replace(" ", "_")
        except Exception as error:  # refused, reset, bad handshake: count them by kind
            failure = type(error).__name__
        if failure is not None or ws is None:
            if ws is not None:
                ws.abort()  # a half-open socket must not linger into the run
            return failure or "no_socket"
        now = time.time()
        self.result.connected_at[user_id] = now
        self.result.connect_latencies.append(now - begun)
        self.sockets[user_id] = ws
        ws.closed.add_done_callback(lambda closed: self._on_close(user_id, closed.result()))
        watch = self.plan.watch.get(user_id)
        if watch:
            ws.send_text(
                orjson.dumps(
                    {"v": 1, "type": "presence.subscribe", "user_ids": watch, "ref": "watch"}
                ).decode()
            )
        return None

    async def _close_all(self) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(30):
                await asyncio.gather(
                    *(ws.close() for ws in self.sockets.values()), return_exceptions=True
                )

    # --- receiving ------------------------------------------------------------------------------

    def _on_frame(self, user_id: int, rooms: set[int], raw: bytes) -> None:
        now = time.time()
        result = self.result
        result.frames_received += 1
        result.bytes_received += len(raw)
        frame = orjson.loads(raw)
        kind = frame.get("type")
        if kind == "message.new":
            self._on_push(user_id, rooms, frame, now)
        elif kind == "ack":
            self._on_ack(frame, now)
        elif kind == "error":
            self._on_error(frame)
        else:
            result.event_counts[str(kind)] += 1

    def _on_close(self, user_id: int, code: int) -> None:
        self.result.close_codes[str(code)] += 1
        if not self.stopping:
            self.result.disconnected_at[user_id] = time.time()

    def _on_push(self, user_id: int, rooms: set[int], frame: dict[str, Any], now: float) -> None:
        result = self.result
        self.push_arrived.set()
        result.event_counts["message.new"] += 1
        message = frame["message"]
        message_id = int(message["id"])
        result.delivery_message_ids.append(message_id)
        result.delivery_user_ids.append(user_id)
        result.delivery_times.append(now)
        seen = (
            int(message["channel_id"]),
            int(message["seq"]),
            message.get("client_msg_id"),
            int(message["sender_id"]),
            message.get("body", ""),
        )
        first = result.pushed.setdefault(message_id, seen)
        if first != seen:
            result.push_mismatches += 1
        if seen[0] not in rooms:
            result.event_counts["message.new_foreign_room"] += 1

    def _on_ack(self, frame: dict[str, Any], now: float) -> None:
        if frame.get("ref") == "watch":
            self.result.event_counts["presence.subscribe_ack"] += 1
            return
        sent = self.pending.pop(frame.get("ref", -1), None)
        if sent is None:
            self.result.event_counts["ack_unmatched"] += 1
            return
        self.result.acks[sent.client_msg_id] = (
            int(frame["message_id"]),
            int(frame["channel_id"]),
            int(frame["seq"]),
            bool(frame.get("duplicate")),
            now,
        )
        self._settle()

    def _on_error(self, frame: dict[str, Any]) -> None:
        code = str(frame.get("code"))
        self.result.error_counts[code] += 1
        sent = self.pending.pop(frame.get("ref", -1), None)
        if sent is not None:
            self.result.errors[sent.client_msg_id] = code
            self._settle()

    # --- sending --------------------------------------------------------------------------------

    def _candidates(self) -> list[tuple[float, list[tuple[int, int]]]]:
        """(weight, [(user id, room id)]) per room kind, over the users that are connected."""
        by_kind: dict[str, list[tuple[int, int]]] = {}
        for user_id in self.sockets:
            for room_id, kind in self.plan.user_rooms.get(user_id, []):
                by_kind.setdefault(kind, []).append((user_id, room_id))
        weights = self.plan.mix_weights
        if weights is None:
            return [(1.0, [pair for pairs in by_kind.values() for pair in pairs])]
        return [(weights.get(kind, 0.0), pairs) for kind, pairs in by_kind.items()]

    def _body(self, sent_at: float, ref: int) -> str:
        head = f"{BODY_MARKER} {sent_at:.6f} {self.plan.index}:{ref} "
        filler = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod "
        missing = max(0, self.plan.body_size - len(head))
        return head + (filler * (missing // len(filler) + 1))[:missing].rstrip()

    def _pick_sender(
        self, pools: list[list[tuple[int, int]]], weights: list[float]
    ) -> tuple[int, int, LeanSocket | libws.LibSocket] | None:
        """A random (user, room) whose socket is still open; a few tries, then give up."""
        for _ in range(20):
            pool = self.random.choices(pools, weights)[0] if len(pools) > 1 else pools[0]
            user_id, room_id = self.random.choice(pool)
            ws = self.sockets.get(user_id)
            if ws is not None and user_id not in self.result.disconnected_at:
                return user_id, room_id, ws
        self.result.event_counts["send_skipped_no_open_socket"] += 1
        return None

    async def _send_phase(self, t_start: float) -> None:
        plan = self.plan
        candidates = [(w, pairs) for w, pairs in self._candidates() if w > 0 and pairs]
        result = self.result
        result.send_started = time.time()
        if not candidates:
            result.send_ended = time.time()
            return
        weights = [w for w, _pairs in candidates]
        pools = [pairs for _w, pairs in candidates]
        interval = plan.clients / plan.rate
        first = t_start + plan.index / plan.rate
        end = t_start + plan.duration
        for k in itertools.count():
            target = first + k * interval
            if target >= end:
                break
            delay = target - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                result.send_lag_max = max(result.send_lag_max, -delay)
            picked = self._pick_sender(pools, weights)
            if picked is None:
                continue
            user_id, room_id, ws = picked
            ref = next(self.refs)
            sent_at = time.time()
            sent = Sent(str(uuid.uuid4()), user_id, room_id, sent_at, self._body(sent_at, ref))
            frame = orjson.dumps(
                {
                    "v": 1,
                    "type": "message.send",
                    "ref": ref,
                    "channel_id": room_id,
                    "client_msg_id": sent.client_msg_id,
                    "body": sent.body,
                }
            ).decode()
            self.pending[ref] = sent
            result.sends.append(sent)
            if not ws.send_text(frame):
                self.pending.pop(ref, None)
                result.errors[sent.client_msg_id] = "socket_closed"
        result.send_ended = time.time()

    def _settle(self) -> None:
        if self.sending_done and not self.pending:
            self.all_acked.set()

    async def _await_acks(self) -> None:
        self.sending_done = True
        self._settle()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.all_acked.wait(), self.plan.ack_timeout)

    async def _await_quiet(self) -> None:
        """Wait until no push arrived for `grace` seconds: late pushes are late, not lost."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.plan.drain_timeout):
                while True:
                    self.push_arrived.clear()
                    try:
                        await asyncio.wait_for(self.push_arrived.wait(), self.plan.grace)
                    except TimeoutError:
                        return


def run_process(plan: ClientPlan, control: Connection) -> None:
    """Entry point of a spawned generator process.

    The collector is off here: a generator keeps every send, ack and delivery of the run
    (millions of objects in a long run), and full collections over them stopped it for up to
    half a second (`max_send_lag_ms`), which the latencies would then charge to the server.
    Its memory grows with the run instead (RSS is in the summary).
    """
    gc.disable()
    generator = Generator(plan, control)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is optional
        asyncio.run(generator.run())
    else:
        uvloop.run(generator.run())
    with open(plan.result_path, "wb") as file:
        pickle.dump(generator.result, file, protocol=pickle.HIGHEST_PROTOCOL)
    control.send(("done", plan.result_path))
