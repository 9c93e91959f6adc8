"""A per-process cache of values read at most their time-to-live ago, loaded by one caller at a time per key.

A warm worker reads a tenant's credentials, channel and welcome content once per TTL, not once per caller: the
welcomes of one batch are sent in parallel, and without the per-key load lock each of them read the same items at
the same moment (a burst's 20 fresh workers × 5 parallel sends made ~100 reads of what 20 reads answer).

With `max_entries`, the cache holds at most that many values: storing one more first drops the expired ones, then the
oldest stored, so keys a caller chooses (an unknown tenant id in a callback URL) cannot grow it without end. A key's
load lock lives only while its load runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """`get(key, load)`: the cached value, or `load()`'s (value, ttl seconds) while other callers for that key wait."""

    def __init__(self, clock: Callable[[], float] | None = None, max_entries: int | None = None) -> None:
        """`clock` defaults to `time.monotonic`, looked up at each call; `max_entries` None is unbounded."""
        if max_entries is not None and max_entries < 1:
            raise ValueError("max_entries must be positive")
        self._clock = clock or (lambda: time.monotonic())
        self._max_entries = max_entries
        self._values: dict[K, tuple[float, V]] = {}
        self._loading: dict[K, threading.Lock] = {}
        self._mutex = threading.Lock()

    def get(self, key: K, load: Callable[[], tuple[V, float]]) -> V:
        found, value = self._fresh(key)
        if found:
            return value
        with self._mutex:
            loading = self._loading.setdefault(key, threading.Lock())
        try:
            with loading:
                found, value = self._fresh(key)
                if found:
                    return value
                value, ttl = load()
                with self._mutex:
                    self._store(key, self._clock() + ttl, value)
                return value
        finally:
            with self._mutex:
                if self._loading.get(key) is loading:
                    del self._loading[key]

    def __len__(self) -> int:
        with self._mutex:
            return len(self._values)

    def _store(self, key: K, expires: float, value: V) -> None:
        """Store (newest last), then keep within `max_entries`: expired values go first, then the oldest."""
        self._values.pop(key, None)
        self._values[key] = (expires, value)
        if self._max_entries is None or len(self._values) <= self._max_entries:
            return
        now = self._clock()
        for stale in [k for k, (until, _) in self._values.items() if until <= now]:
            del self._values[stale]
        while len(self._values) > self._max_entries:
            del self._values[next(iter(self._values))]

    def forget(self, key: K | None = None) -> None:
        """Drop one key's value, or every value."""
        with self._mutex:
            if key is None:
                self._values.clear()
            else:
                self._values.pop(key, None)

    def _fresh(self, key: K) -> tuple[bool, V | None]:
        with self._mutex:
            hit = self._values.get(key)
        if hit is not None and hit[0] > self._clock():
            return True, hit[1]
        return False, None
