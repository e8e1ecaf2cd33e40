"""Presence of every open tab of a process, refreshed in turns: `PresenceKeeper`.

Moved out of apps/chat/consumers.py (which creates one per event loop, `presence_keeper()`,
and re-exports the class).
"""

from __future__ import annotations

import asyncio
import logging
import zlib

from django.conf import settings

from apps.chat import services

# The consumer's logger: its records keep the name they had before the move.
logger = logging.getLogger("apps.chat.consumers")


class PresenceKeeper:
    """Keeps every open tab of this process present, instead of a refresh per socket.

    Each tab is refreshed once every third of the presence TTL, but not all at once: the
    third is cut into `SLICES` turns, a tab's turn follows from its connection id, and a turn
    sends at most `CHUNK` tabs per Redis call. One script call for all 2,500 tabs of a process
    held Redis for 10-14 ms every 30 s, and with it every process's events (docs/performance.md
    §5.19). Entries follow the sockets (connect, `presence.set`, disconnect); a crashed process
    stops refreshing and its tabs expire.
    """

    SLICES = 10
    CHUNK = 500

    def __init__(self) -> None:
        # connection id -> (user id, state, turn)
        self.entries: dict[str, tuple[int, str, int]] = {}
        self.task: asyncio.Task[None] | None = None

    def track(self, connection_id: str, user_id: int, state: str) -> None:
        turn = zlib.crc32(connection_id.encode()) % self.SLICES
        self.entries[connection_id] = (user_id, state, turn)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())

    def forget(self, connection_id: str) -> None:
        self.entries.pop(connection_id, None)
        if not self.entries and self.task is not None:
            self.task.cancel()
            self.task = None

    async def _run(self) -> None:
        turn = 0
        while self.entries:
            await asyncio.sleep(settings.ENCLAVE_PRESENCE_TTL_SECONDS / 3 / self.SLICES)
            due = [
                (uid, cid, state)
                for cid, (uid, state, tab_turn) in self.entries.items()
                if tab_turn == turn
            ]
            turn = (turn + 1) % self.SLICES
            for start in range(0, len(due), self.CHUNK):
                chunk = due[start : start + self.CHUNK]
                try:
                    # Redis only: the default executor, not the database thread.
                    await asyncio.to_thread(services.presence_keep_alive, entries=chunk)
                except Exception:
                    logger.exception("presence keep-alive of %d tabs failed", len(chunk))
