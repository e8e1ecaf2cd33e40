"""PresenceKeeper: every tab refreshed once per third of the TTL, in small turns."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from apps.chat import consumers, services
from apps.chat.consumers import PresenceKeeper


@pytest.fixture
def refreshed(monkeypatch: pytest.MonkeyPatch) -> list[list[tuple[int, str, str]]]:
    calls: list[list[tuple[int, str, str]]] = []
    monkeypatch.setattr(
        services, "presence_keep_alive", lambda *, entries: calls.append(list(entries))
    )
    return calls


async def test_every_tab_is_refreshed_within_a_third_of_the_ttl_in_turns(
    settings: Any, refreshed: list[list[tuple[int, str, str]]]
) -> None:
    settings.ENCLAVE_PRESENCE_TTL_SECONDS = 0.6  # a turn every 0.02 s, a round in 0.2 s
    keeper = PresenceKeeper()
    tabs = {uuid.uuid4().hex: user_id for user_id in range(200)}
    for connection_id, user_id in tabs.items():
        keeper.track(connection_id, user_id, "online")

    # One round takes 0.2 s; a loaded machine may stretch it, so wait (up to 10 s) for the
    # round to complete rather than for a fixed time.
    def seen_now() -> dict[str, int]:
        return {cid: uid for call in refreshed for uid, cid, _state in call}

    for _ in range(500):
        if len(seen_now()) >= len(tabs):
            break
        await asyncio.sleep(0.02)
    for connection_id in tabs:
        keeper.forget(connection_id)

    seen = seen_now()
    assert seen == tabs  # everyone, with the right user
    assert max(len(call) for call in refreshed) < len(tabs) / 2  # in turns, not all at once
    assert keeper.task is None


async def test_a_turn_goes_out_in_chunks(
    settings: Any, refreshed: list[list[tuple[int, str, str]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.ENCLAVE_PRESENCE_TTL_SECONDS = 0.6
    monkeypatch.setattr(consumers.PresenceKeeper, "SLICES", 1)
    monkeypatch.setattr(consumers.PresenceKeeper, "CHUNK", 7)
    keeper = PresenceKeeper()
    for user_id in range(30):
        keeper.track(uuid.uuid4().hex, user_id, "away")

    # One round takes 0.2 s; wait (up to 10 s on a loaded machine) until it has gone out.
    for _ in range(500):
        if sum(len(call) for call in refreshed) >= 30:
            break
        await asyncio.sleep(0.02)
    keeper.forget(next(iter(keeper.entries)))
    for connection_id in list(keeper.entries):
        keeper.forget(connection_id)

    assert [len(call) for call in refreshed[:5]] == [7, 7, 7, 7, 2]
    assert {state for call in refreshed for _uid, _cid, state in call} == {"away"}
