"""The REST API's per-user rate limit: a sliding window in one cache round trip.

Django REST Framework's `UserRateThrottle` keeps, per user, the list of the timestamps of the
last window's requests: a cache GET of that pickled list and a SET of it back on every request
(two Redis round trips, a third of a cached history page's time in a request's thread:
docs/performance.md, "Read paths"), and work that grows with the rate (6,000 entries for a
user at the default 6,000/min).

This throttle counts requests in fixed windows and estimates the sliding window from the
current and the previous one: the previous window's count, weighted by the part of it still
inside the sliding window, plus the current count. On Redis one script reads both counters,
decides whether one more request fits and counts it if so (a refused request is not counted,
as in DRF): one round trip, constant work. On another cache (the embedded default's
in-process memory) the same arithmetic runs over `get_many` and `incr`.
"""

from __future__ import annotations

import math
import time
from typing import Any

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

# KEYS: the current window's counter, the previous one's. ARGV: the previous window's weight,
# the limit, the counters' lifetime in seconds. Returns {allowed, current, previous}.
_REDIS_SCRIPT = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
if previous * tonumber(ARGV[1]) + current + 1 > tonumber(ARGV[2]) then
  return {0, current, previous}
end
current = redis.call('INCR', KEYS[1])
if current == 1 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
return {1, current, previous}
"""

_scripts: dict[int, Any] = {}


def _redis_script(client: Any) -> Any:
    script = _scripts.get(id(client))
    if script is None:
        script = _scripts[id(client)] = client.register_script(_REDIS_SCRIPT)
    return script


class UserRateThrottle(SimpleRateThrottle):
    """`DEFAULT_THROTTLE_RATES["user"]` per authenticated user (per address otherwise)."""

    scope = "user"
    # What the last `allow_request` saw, for `wait`.
    current = 0
    previous = 0
    elapsed = 0.0
    # Set by SimpleRateThrottle.__init__ from the rate (not in DRF's stubs).
    num_requests: int
    duration: int

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        user = request.user
        ident = f"u{user.pk}" if user and user.is_authenticated else f"a{self.get_ident(request)}"
        return f"throttle:{self.scope}:{ident}"

    def allow_request(self, request: Request, view: Any) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        window = float(self.duration)
        now = self.timer()
        index = math.floor(now / window)
        self.elapsed = now - index * window
        weight = 1.0 - self.elapsed / window
        keys = [f"{key}:{index}", f"{key}:{index - 1}"]
        lifetime = math.ceil(2 * window) + 1
        allowed, self.current, self.previous = self._count(keys, weight, lifetime)
        return bool(allowed)

    def _count(self, keys: list[str], weight: float, lifetime: int) -> tuple[int, int, int]:
        limit = int(self.num_requests)
        cache = caches["default"]
        if isinstance(cache, RedisCache):
            full = [cache.make_and_validate_key(key) for key in keys]
            client = cache._cache.get_client(full[0], write=True)
            allowed, current, previous = _redis_script(client)(
                keys=full, args=[repr(weight), limit, lifetime]
            )
            return int(allowed), int(current), int(previous)
        counts = cache.get_many(keys)
        current, previous = int(counts.get(keys[0], 0)), int(counts.get(keys[1], 0))
        if previous * weight + current + 1 > limit:
            return 0, current, previous
        cache.add(keys[0], 0, timeout=lifetime)
        return 1, cache.incr(keys[0]), previous

    def wait(self) -> float | None:
        """Seconds until the estimate falls below the limit (the `Retry-After` header)."""
        window, limit = float(self.duration), int(self.num_requests)
        room = limit - 1  # what the estimate may be for one more request to fit
        if self.current <= room and self.previous:
            # The previous window's share fades out linearly over this one.
            needed = window * (1.0 - (room - self.current) / self.previous) - self.elapsed
        else:
            # Wait for the next window, then for this window's count to fade enough.
            fade = window * (1.0 - room / self.current) if self.current else 0.0
            needed = (window - self.elapsed) + max(0.0, fade)
        return max(needed, 0.0) + 0.001

    # DRF's `timer` is `time.time`; named here for the tests' clock.
    timer = staticmethod(time.time)
