"""The signed callbacks this process accepted and whose timestamp is still inside the replay window.

A key is claimed once until it expires (the callback's own timestamp plus the window: after that the timestamp check
refuses it anyway), and given back when the caller could not finish with it, so that a retry is accepted. At most
`max_entries` keys are held; storing one more drops the expired ones, then the oldest.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable


class ReplayCache:
    """`claim(key, expires_at, now)` is True the first time and False again until `expires_at` has passed."""

    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self._max_entries = max_entries
        self._expiry: dict[Hashable, float] = {}
        self._mutex = threading.Lock()

    def claim(self, key: Hashable, expires_at: float, now: float) -> bool:
        with self._mutex:
            held = self._expiry.get(key)
            if held is not None and held > now:
                return False
            self._expiry.pop(key, None)
            self._expiry[key] = expires_at
            if len(self._expiry) > self._max_entries:
                self._shrink(now)
            return True

    def release(self, key: Hashable) -> None:
        """Forget a claim whose work failed, so that the same callback sent again is accepted."""
        with self._mutex:
            self._expiry.pop(key, None)

    def __len__(self) -> int:
        with self._mutex:
            return len(self._expiry)

    def _shrink(self, now: float) -> None:
        for stale in [key for key, until in self._expiry.items() if until <= now]:
            del self._expiry[stale]
        while len(self._expiry) > self._max_entries:
            del self._expiry[next(iter(self._expiry))]
