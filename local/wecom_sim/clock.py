"""Simulated time: real time scaled by a factor, plus explicit jumps, so days pass in seconds."""

from __future__ import annotations

import threading
import time


class SimClock:
    """Epoch seconds that run ``factor`` times faster than real time and can be advanced by hand."""

    def __init__(self, start: float | None = None, factor: float = 1.0) -> None:
        self._start = time.time() if start is None else float(start)
        self._real_start = time.monotonic()
        self._offset = 0.0
        self.factor = factor
        self._lock = threading.Lock()

    def now(self) -> float:
        """The current simulated time in epoch seconds."""
        return self._start + (time.monotonic() - self._real_start) * self.factor + self._offset

    def advance(self, seconds: float) -> float:
        """Jump forward by ``seconds`` of simulated time; returns the new time."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds
        return self.now()

    def real_seconds(self, simulated: float) -> float:
        """How long ``simulated`` seconds take in real time."""
        return simulated / self.factor
