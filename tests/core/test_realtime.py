"""The per-process real-time hub (apps.core.runtime.realtime) on its own, without sockets.

The in-process bus here; the Redis bus is exercised end to end by tests/chat/test_consumers_redis.
Each scenario runs on a fresh event loop in a thread of its own (`in_loop`): a browser test that
ran earlier in the same worker leaves Playwright's loop marked as running in the main thread.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from apps.core.runtime import realtime
from apps.core.runtime.wsframes import text_frame


class Recorder:
    def __init__(self, name: str, *, broken: bool = False) -> None:
        self.name = name
        self.broken = broken
        self.frames: list[tuple[str, int | None]] = []
        self.controls: list[dict[str, Any]] = []

    def deliver_now(self, frame: str, channel_id: int | None, wire: bytes) -> bool:
        if self.broken:
            raise RuntimeError("socket gone")
        assert wire == text_frame(frame.encode())
        if self.name.startswith("slow"):  # takes the awaited path
            return False
        self.frames.append((frame, channel_id))
        return True

    async def deliver(self, frame: str, channel_id: int | None, wire: bytes) -> None:
        assert self.deliver_now(frame, channel_id, wire) is False
        self.frames.append((frame, channel_id))

    async def control(self, message: dict[str, Any]) -> None:
        self.controls.append(message)


@pytest.fixture
def local_bus(settings: Any) -> None:
    settings.ENCLAVE_REALTIME_URL = ""


def push(frame: str, channel_id: int | None = None) -> dict[str, Any]:
    return {"type": "client.push", "frame": frame, "channel_id": channel_id}


def in_loop(scenario: Callable[[], Awaitable[None]]) -> None:
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, scenario()).result()  # type: ignore[arg-type]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0.01)


def test_the_wire_form_round_trips_without_re_encoding_the_frame() -> None:
    frame = '{"v":1,"type":"typing","note":"多语言\\n"}'
    payload = realtime.encode(["chan.1", "user.2"], push(frame, 1))

    [(header, decoded)] = realtime.decode(payload)

    assert decoded == frame
    # `t`: when it was published, for the bus lag metric (enclave_realtime_bus_lag_seconds).
    assert abs(header.pop("t") / 1e6 - time.time()) < 60
    assert header == {"type": "client.push", "channel_id": 1, "g": ["chan.1", "user.2"]}


def test_records_travel_together_in_order_and_split_at_the_size_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    records = [realtime.encode([f"chan.{n}"], push(f"frame {n}\n", n)) for n in range(10)]
    monkeypatch.setattr(realtime, "MAX_MESSAGE_BYTES", 3 * len(records[0]))

    messages = realtime.messages_of(records)

    assert [len(list(realtime.decode(m))) for m in messages] == [3, 3, 3, 1]
    decoded = [record for message in messages for record in realtime.decode(message)]
    assert [(h["g"], f) for h, f in decoded] == [([f"chan.{n}"], f"frame {n}\n") for n in range(10)]
    assert realtime.messages_of([]) == []


def test_a_truncated_message_is_an_error_not_a_shorter_frame() -> None:
    payload = realtime.encode(["chan.1"], push("whole", 1))

    with pytest.raises(ValueError, match="truncated"):
        list(realtime.decode(payload[:-1]))


@pytest.mark.redis
def test_events_of_one_turn_are_one_redis_message(settings: Any) -> None:
    from tests.conftest import REDIS_TEST_URL

    settings.ENCLAVE_REALTIME_URL = REDIS_TEST_URL
    settings.ENCLAVE_REALTIME_PREFIX = f"test-batch-{threading.get_ident()}"
    in_loop(_test_events_of_one_turn_are_one_redis_message)


async def _test_events_of_one_turn_are_one_redis_message() -> None:
    import redis.asyncio as aioredis

    from tests.conftest import REDIS_TEST_URL

    watcher = aioredis.Redis.from_url(REDIS_TEST_URL).pubsub()
    await watcher.subscribe(realtime.channel_name())
    hub = realtime.hub()
    sink = Recorder("sink")
    await hub.attach()
    hub.add(sink, ["chan.5"])

    for n in range(50):  # one turn: a send batch's worth of events
        realtime.publish(["chan.5"], push(str(n), 5))
    await settle()
    seen: list[bytes] = []
    for _ in range(5):  # the subscription's confirmation, then whatever was published
        message = await watcher.get_message(timeout=0.2)
        if message is not None and message["type"] == "message":
            seen.append(message["data"])

    assert len(seen) == 1
    assert [frame for _h, frame in realtime.decode(seen[0])] == [str(n) for n in range(50)]
    assert [frame for frame, _c in sink.frames] == [str(n) for n in range(50)]
    await hub.detach(sink, ["chan.5"])
    await watcher.aclose()


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("", "enclave:rt"),
        ("redis://127.0.0.1:6379", "enclave:rt"),
        ("redis://127.0.0.1:6379/0", "enclave:rt"),
        ("redis://:secret@cache:6379/3", "enclave:db3:rt"),
        ("rediss://cache:6380/?db=7", "enclave:db7:rt"),
        ("unix:///run/redis/redis.sock?db=2", "enclave:db2:rt"),
    ],
)
def test_the_bus_channel_names_the_redis_database(settings: Any, url: str, name: str) -> None:
    settings.ENCLAVE_REALTIME_URL = url
    settings.ENCLAVE_REALTIME_PREFIX = "enclave"
    assert realtime.channel_name() == name


@pytest.mark.redis
def test_installations_on_two_databases_of_one_redis_do_not_hear_each_other(
    settings: Any,
) -> None:
    """Redis' pub/sub ignores the database number: without it in the channel name, a second
    installation (or a test run) on database N of the same Redis delivered its events to the
    first one's sockets of the same channel ids."""
    from tests.conftest import REDIS_TEST_URL

    settings.ENCLAVE_REALTIME_PREFIX = f"test-dbs-{threading.get_ident()}"
    base = REDIS_TEST_URL.rsplit("/", 1)[0]
    settings.ENCLAVE_REALTIME_URL = f"{base}/14"
    in_loop(_test_installations_on_two_databases_do_not_hear_each_other)


async def _test_installations_on_two_databases_do_not_hear_each_other() -> None:
    from django.conf import settings

    hub = realtime.hub()
    sink = Recorder("sink")
    await hub.attach()
    hub.add(sink, ["chan.5"])
    ours = settings.ENCLAVE_REALTIME_URL
    try:
        # The other installation publishes from a process with no hub (a Celery worker).
        settings.ENCLAVE_REALTIME_URL = ours.rsplit("/", 1)[0] + "/13"
        realtime.publish(["chan.5"], push("theirs", 5))
        settings.ENCLAVE_REALTIME_URL = ours
        realtime.publish(["chan.5"], push("ours", 5))
        for _ in range(50):
            if sink.frames:
                break
            await asyncio.sleep(0.02)
        await settle()
        assert sink.frames == [("ours", 5)]
    finally:
        settings.ENCLAVE_REALTIME_URL = ours
        await hub.detach(sink, ["chan.5"])


def test_an_event_reaches_each_subscriber_of_its_topics_once(local_bus: None) -> None:
    in_loop(_test_an_event_reaches_each_subscriber_of_its_topics_once)


async def _test_an_event_reaches_each_subscriber_of_its_topics_once() -> None:
    hub = realtime.hub()
    both, other = Recorder("both"), Recorder("other")
    channel_only = Recorder("slow-channel")  # takes the awaited path
    for _subscriber in (both, channel_only, other):
        await hub.attach()
    hub.add(both, ["chan.1", "user.1"])
    hub.add(channel_only, ["chan.1"])
    hub.add(other, ["chan.2"])

    realtime.publish(["chan.1", "user.1"], push("F", 1))
    await settle()

    assert both.frames == [("F", 1)]  # in two of the topics, written once
    assert channel_only.frames == [("F", 1)]
    assert other.frames == []
    for subscriber in (both, channel_only, other):
        await hub.detach(subscriber, ["chan.1", "chan.2", "user.1"])
    assert hub.topics == {}
    assert not hub.running


def test_events_published_from_threads_arrive_in_publishing_order(local_bus: None) -> None:
    in_loop(_test_events_published_from_threads_arrive_in_publishing_order)


async def _test_events_published_from_threads_arrive_in_publishing_order() -> None:
    hub = realtime.hub()
    sink = Recorder("sink")
    await hub.attach()
    hub.add(sink, ["chan.9"])

    def worker() -> None:
        for n in range(200):
            realtime.publish(["chan.9"], push(str(n), 9))

    thread = threading.Thread(target=worker)
    thread.start()
    await asyncio.get_running_loop().run_in_executor(None, thread.join)
    await settle()

    assert [frame for frame, _c in sink.frames] == [str(n) for n in range(200)]
    await hub.detach(sink, ["chan.9"])


def test_a_broken_socket_does_not_starve_the_others(local_bus: None) -> None:
    in_loop(_test_a_broken_socket_does_not_starve_the_others)


async def _test_a_broken_socket_does_not_starve_the_others() -> None:
    hub = realtime.hub()
    broken, fine = Recorder("broken", broken=True), Recorder("fine")
    for subscriber in (broken, fine):
        await hub.attach()
        hub.add(subscriber, ["chan.3"])

    realtime.publish(["chan.3"], push("still here", 3))
    await settle()

    assert fine.frames == [("still here", 3)]
    for subscriber in (broken, fine):
        await hub.detach(subscriber, ["chan.3"])


def test_controls_go_to_the_control_handler(local_bus: None) -> None:
    in_loop(_test_controls_go_to_the_control_handler)


async def _test_controls_go_to_the_control_handler() -> None:
    hub = realtime.hub()
    sink = Recorder("sink")
    await hub.attach()
    hub.add(sink, ["user.4"])

    realtime.publish(["user.4"], {"type": "client.control", "action": "leave", "channel_id": 5})
    await settle()

    assert sink.frames == []
    assert sink.controls == [
        {"type": "client.control", "action": "leave", "channel_id": 5, "g": ["user.4"]}
    ]
    await hub.detach(sink, ["user.4"])


def test_publishing_with_no_hub_running_is_a_no_op(local_bus: None) -> None:
    # A management command in the embedded mode: nobody in this process listens.
    realtime.publish(["chan.1"], push("nobody", 1))
