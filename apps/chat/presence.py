"""Presence across several tabs: online if any tab is active, away if all are idle.

Each socket reports its own state under its connection id with a time-to-live; a crashed
process's entries simply expire. Redis holds the state when REDIS_URL is set (shared by every
app server); otherwise a process-local dict does (the embedded single-process mode).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any, Protocol

from django.conf import settings

ONLINE = "online"
AWAY = "away"
OFFLINE = "offline"
CONNECTION_STATES = (ONLINE, AWAY)


def aggregate(states: list[str]) -> str:
    if not states:
        return OFFLINE
    return ONLINE if ONLINE in states else AWAY


class PresenceStore(Protocol):
    # set/remove return the user's status (before, after) the change, read with it.
    def set(self, user_id: int, connection_id: str, state: str) -> tuple[str, str]: ...
    def remove(self, user_id: int, connection_id: str) -> tuple[str, str]: ...
    def status_of(self, user_ids: list[int]) -> dict[int, str]: ...
    def user_status(self, user_id: int) -> str: ...
    # Extend many tabs' entries at once: (user id, connection id, state) each.
    def keep_alive(self, entries: list[tuple[int, str, str]]) -> None: ...


class LocalPresenceStore:
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._data: dict[int, dict[str, tuple[str, float]]] = {}

    def _live(self, user_id: int) -> list[str]:
        now = time.monotonic()
        connections = self._data.get(user_id, {})
        for key in [k for k, (_s, exp) in connections.items() if exp <= now]:
            del connections[key]
        return [state for state, _exp in connections.values()]

    def set(self, user_id: int, connection_id: str, state: str) -> tuple[str, str]:
        with self._lock:
            before = aggregate(self._live(user_id))
            self._data.setdefault(user_id, {})[connection_id] = (state, time.monotonic() + self.ttl)
            return before, aggregate(self._live(user_id))

    def remove(self, user_id: int, connection_id: str) -> tuple[str, str]:
        with self._lock:
            before = aggregate(self._live(user_id))
            self._data.get(user_id, {}).pop(connection_id, None)
            return before, aggregate(self._live(user_id))

    def user_status(self, user_id: int) -> str:
        with self._lock:
            return aggregate(self._live(user_id))

    def keep_alive(self, entries: list[tuple[int, str, str]]) -> None:
        expiry = time.monotonic() + self.ttl
        with self._lock:
            for user_id, connection_id, state in entries:
                connections = self._data.get(user_id, {})
                if connection_id in connections:  # a tab removed meanwhile stays removed
                    connections[connection_id] = (state, expiry)

    def status_of(self, user_ids: list[int]) -> dict[int, str]:
        with self._lock:
            return {uid: aggregate(self._live(uid)) for uid in user_ids}


class RedisPresenceStore:
    """One hash per user: field = connection id, value = "state|expiry-unix-time"."""

    def __init__(self, url: str, ttl: float) -> None:
        import redis

        self.ttl = ttl
        self.client = redis.Redis.from_url(url)

    @staticmethod
    def _key(user_id: int) -> str:
        return f"enclave:presence:{user_id}"

    def _key_ttl(self) -> int:
        # Whole seconds, at least one (EXPIRE 0 would delete the hash at once).
        return max(1, math.ceil(self.ttl * 2))

    def _states(self, raw: dict[bytes, bytes], now: float) -> tuple[list[str], list[bytes]]:
        live, stale = [], []
        for field, value in raw.items():
            state, _sep, expiry = value.decode().partition("|")
            if float(expiry or 0) > now:
                live.append(state)
            else:
                stale.append(field)
        return live, stale

    def _status_after(self, user_id: int) -> str:
        now = time.time()
        live, stale = self._states(self.client.hgetall(self._key(user_id)), now)  # type: ignore[arg-type]
        if stale:
            self.client.hdel(self._key(user_id), *stale)
        return aggregate(live)

    def _change(self, user_id: int, write: Callable[[Any], object]) -> tuple[str, str]:
        """Read, write and read again in one round trip; drop entries found expired."""
        key = self._key(user_id)
        pipe = self.client.pipeline()
        pipe.hgetall(key)
        write(pipe)
        pipe.hgetall(key)
        results = pipe.execute()
        now = time.time()
        before, _stale = self._states(results[0], now)
        after, stale = self._states(results[-1], now)
        if stale:
            self.client.hdel(key, *stale)
        return aggregate(before), aggregate(after)

    def set(self, user_id: int, connection_id: str, state: str) -> tuple[str, str]:
        key = self._key(user_id)

        def write(pipe: Any) -> None:
            pipe.hset(key, connection_id, f"{state}|{time.time() + self.ttl}")
            pipe.expire(key, self._key_ttl())

        return self._change(user_id, write)

    def remove(self, user_id: int, connection_id: str) -> tuple[str, str]:
        return self._change(user_id, lambda pipe: pipe.hdel(self._key(user_id), connection_id))

    def user_status(self, user_id: int) -> str:
        return self._status_after(user_id)

    def keep_alive(self, entries: list[tuple[int, str, str]]) -> None:
        """Extend the entries that still exist, in one script call.

        Only existing fields: a keep-alive snapshot taken before a tab closed must not bring
        its entry back after the close removed it (the user would look online for a TTL).
        """
        if not entries:
            return
        expiry = time.time() + self.ttl
        keys = [self._key(user_id) for user_id, _cid, _state in entries]
        values = [v for _uid, cid, state in entries for v in (cid, f"{state}|{expiry}")]
        self.client.eval(_KEEP_ALIVE_SCRIPT, len(keys), *keys, self._key_ttl(), *values)

    def status_of(self, user_ids: list[int]) -> dict[int, str]:
        pipe = self.client.pipeline()
        for uid in user_ids:
            pipe.hgetall(self._key(uid))
        now = time.time()
        return {
            uid: aggregate(self._states(raw, now)[0])
            for uid, raw in zip(user_ids, pipe.execute(), strict=True)
        }


# KEYS: one hash per entry; ARGV: the hashes' TTL, then (field, value) per entry.
_KEEP_ALIVE_SCRIPT = """
local ttl = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
    local field = ARGV[2 * i]
    if redis.call('HEXISTS', key, field) == 1 then
        redis.call('HSET', key, field, ARGV[2 * i + 1])
        redis.call('EXPIRE', key, ttl)
    end
end
return 0
"""


@lru_cache(maxsize=1)
def presence_store() -> PresenceStore:
    ttl = float(settings.ENCLAVE_PRESENCE_TTL_SECONDS)
    if settings.REDIS_URL:
        return RedisPresenceStore(settings.REDIS_URL, ttl)
    return LocalPresenceStore(ttl)
