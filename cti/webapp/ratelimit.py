"""Login rate limiting: a sliding window of failures per (username, address), in memory.

Why per username *and* address: counting per username alone lets anyone lock a colleague out
from anywhere; per address alone punishes a whole office behind one NAT. A second, looser limit
per address stops one machine from trying a password against many usernames. Memory is enough:
the window is minutes long and a restart merely forgives a few failures. The table is bounded so
a flood of random usernames cannot grow it without end.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class LoginLimiter:
    def __init__(self, max_failures: int = 5, window: float = 300.0, *,
                 max_failures_per_ip: int = 50, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.max_failures_per_ip = max_failures_per_ip
        self.window = window
        self.max_keys = max_keys
        self.clock = clock
        self._fails: dict[tuple[str, str], deque[float]] = {}
        self.refused = 0  # attempts answered 429, for the status page

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        times = self._fails.get(key)
        if times is None:
            return deque()
        horizon = self.clock() - self.window
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._fails[key]
        return times

    def retry_after(self, username: str, ip: str) -> float:
        """Seconds before this pair may try again (0: now). Counts a refusal when > 0."""
        wait = 0.0
        for key, limit in (((username.casefold(), ip), self.max_failures),
                           (("", ip), self.max_failures_per_ip)):
            times = self._recent(key)
            if len(times) >= limit:
                wait = max(wait, times[-limit] + self.window - self.clock())
        if wait > 0:
            self.refused += 1
        return max(wait, 0.0)

    def failed(self, username: str, ip: str) -> None:
        if len(self._fails) >= self.max_keys:
            self._evict()
        now = self.clock()
        for key in ((username.casefold(), ip), ("", ip)):
            self._fails.setdefault(key, deque()).append(now)

    def succeeded(self, username: str, ip: str) -> None:
        """A right password forgives that username's failures from that address."""
        self._fails.pop((username.casefold(), ip), None)

    def _evict(self) -> None:
        for key in list(self._fails):
            self._recent(key)  # drops keys whose failures all aged out
        while len(self._fails) >= self.max_keys:  # still full: forget the oldest
            del self._fails[next(iter(self._fails))]
