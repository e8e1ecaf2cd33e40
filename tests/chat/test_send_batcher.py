"""SendBatcher's optional batching window (ENCLAVE_SEND_BATCH_WINDOW_MS), without a database:
the writer is a recorder, so what is measured is only how sends are grouped."""

from __future__ import annotations

import asyncio
from typing import Any

from apps.chat.consumers import SendBatcher


def recording(batcher: SendBatcher) -> list[list[Any]]:
    batches: list[list[Any]] = []

    async def call(requests: list[Any]) -> list[dict[str, Any]]:
        batches.append(list(requests))
        await asyncio.sleep(0.001)  # the write and its COMMIT
        return [{"ok": request} for request in requests]

    batcher.call = call  # type: ignore[method-assign]
    return batches


async def two_sends_a_moment_apart(batcher: SendBatcher) -> list[dict[str, Any]]:
    first = asyncio.ensure_future(batcher.submit("a"))  # type: ignore[arg-type]
    await asyncio.sleep(0.003)
    second = asyncio.ensure_future(batcher.submit("b"))  # type: ignore[arg-type]
    return list(await asyncio.gather(first, second))


async def test_without_a_window_a_lone_send_is_written_at_once() -> None:
    batcher = SendBatcher(1)
    batches = recording(batcher)

    results = await two_sends_a_moment_apart(batcher)

    assert batches == [["a"], ["b"]]
    assert results == [{"ok": "a"}, {"ok": "b"}]


async def test_with_a_window_a_small_batch_waits_for_company() -> None:
    batcher = SendBatcher(1, window=0.05)
    batches = recording(batcher)

    results = await two_sends_a_moment_apart(batcher)

    assert batches == [["a", "b"]]
    assert results == [{"ok": "a"}, {"ok": "b"}]


async def test_a_batch_that_is_not_small_does_not_wait() -> None:
    batcher = SendBatcher(1, window=10.0)  # a wait would time the test out
    batches = recording(batcher)

    async with asyncio.timeout(2):
        results = await asyncio.gather(*(batcher.submit(n) for n in range(5)))  # type: ignore[arg-type]

    assert batches == [[0, 1, 2, 3, 4]]
    assert [r["ok"] for r in results] == [0, 1, 2, 3, 4]
