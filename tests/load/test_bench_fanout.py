"""The fan-out microbenchmark drives the real hub, consumer and cork (and stays runnable)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from tests.load import bench_fanout


def test_every_socket_gets_every_record_in_one_write_per_turn() -> None:
    # A thread of its own: the suite may already run an event loop in this one.
    with ThreadPoolExecutor(1) as pool:
        summary = pool.submit(
            asyncio.run, bench_fanout.run(members=20, records=3, seconds=0.05)
        ).result()

    assert summary["deliveries"] > 0
    assert summary["deliveries"] % (20 * 3) == 0
    # The cork: the three records of one published message leave in one write per socket.
    assert summary["transport_writes"] == summary["deliveries"] // 3
    assert summary["frame_bytes_written"] == summary["deliveries"] * summary["frame_bytes"]
