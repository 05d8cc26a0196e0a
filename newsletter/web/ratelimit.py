"""A small in-process sliding-window rate limiter (per client address).

Per-address limits that must hold across worker processes are kept in the database instead
(see ``subscribe.py``); this one only slows a single noisy client down.
"""

from __future__ import annotations

import threading
import time
from collections import deque


class RateLimiter:
    """Allow at most `limit` events per `window` seconds for each key."""

    def __init__(self, limit: int, window: float, *, max_keys: int = 10_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str, *, now: float | None = None) -> bool:
        """Record one event for `key`; False if it is over the limit (then nothing is recorded)."""
        current = time.monotonic() if now is None else now
        with self._lock:
            events = self._events.get(key)
            if events is None:
                if len(self._events) >= self.max_keys:
                    self._prune(current)
                events = self._events.setdefault(key, deque())
            while events and current - events[0] >= self.window:
                events.popleft()
            if len(events) >= self.limit:
                return False
            events.append(current)
            return True

    def _prune(self, current: float) -> None:
        stale = [k for k, ev in self._events.items() if not ev or current - ev[-1] >= self.window]
        for key in stale:
            del self._events[key]
        if len(self._events) >= self.max_keys:  # still full: forget the oldest half
            for key in list(self._events)[: self.max_keys // 2]:
                del self._events[key]
