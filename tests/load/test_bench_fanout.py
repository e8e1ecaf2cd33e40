"""The fan-out microbenchmark drives the real hub, consumer and cork (and stays runnable)."""

from __future__ import annotations

import asyncio

from tests.load import bench_fanout


def test_every_socket_gets_every_record_in_one_write_per_turn() -> None:
    summary = asyncio.run(bench_fanout.run(members=20, records=3, seconds=0.05))

    assert summary["deliveries"] > 0
    assert summary["deliveries"] % (20 * 3) == 0
    # The cork: the three records of one published message leave in one write per socket.
    assert summary["transport_writes"] == summary["deliveries"] // 3
    assert summary["frame_bytes_written"] == summary["deliveries"] * summary["frame_bytes"]
