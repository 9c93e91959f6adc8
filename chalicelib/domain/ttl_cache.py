"""A per-process cache of values read at most their time-to-live ago, loaded by one caller at a time per key.

A warm worker reads a tenant's credentials, channel and welcome content once per TTL, not once per caller: the
welcomes of one batch are sent in parallel, and without the per-key load lock each of them read the same items at
the same moment (a burst's 20 fresh workers × 5 parallel sends made ~100 reads of what 20 reads answer).
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

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        """`clock` defaults to `time.monotonic`, looked up at each call."""
        self._clock = clock or (lambda: time.monotonic())
        self._values: dict[K, tuple[float, V]] = {}
        self._loading: dict[K, threading.Lock] = {}
        self._mutex = threading.Lock()

    def get(self, key: K, load: Callable[[], tuple[V, float]]) -> V:
        found, value = self._fresh(key)
        if found:
            return value
        with self._mutex:
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            found, value = self._fresh(key)
            if found:
                return value
            value, ttl = load()
            with self._mutex:
                self._values[key] = (self._clock() + ttl, value)
            return value

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
