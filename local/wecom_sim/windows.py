"""Fixed time windows (per minute, per hour) counted per key, aligned to the simulated clock."""

from __future__ import annotations

MINUTE = 60
HOUR = 3600
DAY = 86_400


class WindowCounter:
    """Counts events per key in the current fixed window of ``length`` seconds."""

    def __init__(self, length: int, limit: int) -> None:
        self.length = length
        self.limit = limit
        self._counts: dict[object, tuple[int, int]] = {}

    def would_exceed(self, key: object, now: float) -> bool:
        """True when one more event in this window would go over the limit."""
        window = int(now // self.length)
        current, count = self._counts.get(key, (window, 0))
        return current == window and count >= self.limit

    def add(self, key: object, now: float) -> None:
        window = int(now // self.length)
        current, count = self._counts.get(key, (window, 0))
        self._counts[key] = (window, count + 1 if current == window else 1)


class MinuteHourLimit:
    """A per-minute and a per-hour cap on the same key: both must allow an event for it to count."""

    def __init__(self, per_minute: int, per_hour: int) -> None:
        self._minute = WindowCounter(MINUTE, per_minute)
        self._hour = WindowCounter(HOUR, per_hour)

    def admit(self, key: object, now: float) -> bool:
        """Count the event and answer True, or answer False (blocked until the window that is full ends)."""
        if self._minute.would_exceed(key, now) or self._hour.would_exceed(key, now):
            return False
        self._minute.add(key, now)
        self._hour.add(key, now)
        return True
