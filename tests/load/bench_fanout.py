"""Microseconds of event-loop CPU per delivered push: the hub's fan-out to local sockets.

Drives the real pieces (`realtime.Hub.deliver`, `ClientConsumer.deliver_now`,
`wsframes.DirectFrames` and the end-of-turn `Cork`) with transports that only count what
they are given, so what is measured is Enclave's Python per delivery, not the kernel's
`send` (docs/performance.md: the mixed workload's 56,000 deliveries a second). One
published record to a channel of `--members` sockets, `--records` records per Redis message
(a send batch's messages), repeated for `--seconds`.

Run:  PYTHONPATH=. .venv/bin/python tests/load/bench_fanout.py [--members 250] [--records 4]
Prints one JSON line: deliveries, CPU µs per delivery (process time), transport writes and
bytes (one write per socket per turn, each frame exactly once).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
django.setup()

from apps.chat.consumers import ClientConsumer  # noqa: E402
from apps.core.events import channel_topic  # noqa: E402
from apps.core.runtime import realtime  # noqa: E402
from apps.core.runtime.wsframes import Cork, DirectFrames, text_frame  # noqa: E402
from tests.wsfakes import fake_protocol  # noqa: E402


class CountingTransport:
    def __init__(self) -> None:
        self.writes = 0
        self.bytes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        self.bytes += len(data)

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0


def _socket(channel_id: int, cork: Cork) -> tuple[ClientConsumer, CountingTransport]:
    """A consumer as the hub sees it after its handshake: open, direct frames, one channel."""
    transport = CountingTransport()
    protocol = fake_protocol(transport)
    consumer = ClientConsumer.__new__(ClientConsumer)
    consumer.closing = False
    consumer.held = None
    consumer.channel_ids = {channel_id}
    consumer.direct = DirectFrames(protocol, max_buffer=1 << 20, cork=cork)
    return consumer, transport


async def run(members: int, records: int, seconds: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    hub = realtime.Hub(loop, None)
    cork = Cork()
    channel_id = 7
    sockets = [_socket(channel_id, cork) for _ in range(members)]
    for consumer, _transport in sockets:
        hub.add(consumer, [channel_topic(channel_id)])
    frame = json.dumps({"type": "message.new", "message": {"body": "x" * 500}})
    payload = b"".join(
        realtime.encode([channel_topic(channel_id)], {"channel_id": channel_id, "frame": frame})
        for _ in range(records)
    )
    delivered = 0
    started_cpu, deadline = time.process_time(), time.monotonic() + seconds
    while time.monotonic() < deadline:
        await hub.deliver(payload)
        await asyncio.sleep(0)  # the end of the turn: the cork writes
        delivered += members * records
    cpu = time.process_time() - started_cpu
    writes = sum(transport.writes for _consumer, transport in sockets)
    written = sum(transport.bytes for _consumer, transport in sockets)
    return {
        "members": members,
        "records_per_message": records,
        "deliveries": delivered,
        "cpu_us_per_delivery": round(1e6 * cpu / delivered, 3),
        "transport_writes": writes,
        "frame_bytes": len(text_frame(frame.encode())),
        "frame_bytes_written": written,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=250)
    parser.add_argument("--records", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=3.0)
    arguments = parser.parse_args()
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    print(json.dumps(runner(run(arguments.members, arguments.records, arguments.seconds))))


if __name__ == "__main__":
    main()
