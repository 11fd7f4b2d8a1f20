"""Per-API-key request limit, as the Cloud API enforces it (10 requests per 10 s by default)."""

from __future__ import annotations

import collections
import threading
import time


def parse(text: str) -> tuple[int, float] | None:
    """`10/10` -> (10, 10.0); `off` -> None."""
    if text.strip().lower() == "off":
        return None
    count, _, seconds = text.partition("/")
    limit = (int(count), float(seconds or 1))
    if limit[0] < 1 or limit[1] <= 0:
        raise ValueError("rate limit must be N/SECONDS with N >= 1 and SECONDS > 0, or off")
    return limit


class RateLimiter:
    """A sliding window per key; a refused request does not use up the window."""

    def __init__(self, limit: tuple[int, float] | None, clock=time.monotonic):
        self.limit = limit
        self.clock = clock
        self._seen: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        self._lock = threading.Lock()

    def admit(self, key_id: str) -> float | None:
        """None when admitted, else the seconds until a request would be."""
        if self.limit is None:
            return None
        count, window = self.limit
        now = self.clock()
        with self._lock:
            seen = self._seen[key_id]
            while seen and seen[0] <= now - window:
                seen.popleft()
            if len(seen) >= count:
                return seen[0] + window - now
            seen.append(now)
        return None
