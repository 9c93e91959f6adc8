"""A per-process fixed-window counter per key, bounded in the keys it remembers: the public intake's first line.

A public endpoint cannot afford a database write per request to count callers, so each API process counts what it
sees (the fleet-wide ceiling is API Gateway's throttling). Keys are caller-chosen (an IP, a token), so the table is
bounded: when full, the keys of past windows go first, then the oldest.
"""

from __future__ import annotations

import threading


class WindowLimit:
    """At most `limit` admits per key in each window of `window_seconds`."""

    def __init__(self, limit: int, window_seconds: float, max_keys: int = 10_000) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self.max_keys = max_keys
        self._counts: dict[str, tuple[int, int]] = {}
        self._mutex = threading.Lock()

    def admit(self, key: str, now: float) -> bool:
        """Count one use of `key` and answer True, or answer False when its window is full (nothing counted)."""
        window = int(now // self.window_seconds)
        with self._mutex:
            current, count = self._counts.pop(key, (window, 0))
            count = count if current == window else 0
            allowed = count < self.limit
            self._counts[key] = (window, count + 1 if allowed else count)
            if len(self._counts) > self.max_keys:
                for stale in [k for k, (w, _) in self._counts.items() if w != window]:
                    del self._counts[stale]
                while len(self._counts) > self.max_keys:
                    del self._counts[next(iter(self._counts))]
            return allowed
