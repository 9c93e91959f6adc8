"""Outcome counters kept by the simulator itself, so tests and benches need not trust the app's own figures."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict, deque

APP_INBOX_SIZE = 2000


class CorpStats:
    """Counters of one corp."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.codes: dict[str, Counter[int]] = defaultdict(Counter)
        self.mass_received: Counter[str] = Counter()
        self.welcome_delays: list[float] = []
        self.app_delivered = 0
        self.app_dropped = 0
        self.app_duplicates = 0
        self.app_inbox: deque[dict] = deque(maxlen=APP_INBOX_SIZE)
        self.callbacks: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()

    def snapshot(self, detail: bool) -> dict:
        delays = self.welcome_delays
        received = self.mass_received
        result = {
            "calls": dict(self.calls),
            "codes": {api: {str(code): n for code, n in codes.items()} for api, codes in self.codes.items()},
            "mass_received": {
                "receivers": len(received),
                "total": sum(received.values()),
                "max_per_receiver": max(received.values(), default=0),
                "histogram": {str(k): v for k, v in sorted(Counter(received.values()).items())},
            },
            "welcome": {
                "delivered": len(delays),
                "delay_p50": statistics.median(delays) if delays else None,
                "delay_max": max(delays, default=None),
            },
            "app_messages": {
                "delivered": self.app_delivered,
                "dropped": self.app_dropped,
                "duplicates": self.app_duplicates,
                "inbox": list(self.app_inbox),
            },
            "callbacks": dict(self.callbacks),
            "faults": dict(self.faults),
        }
        if detail:
            result["mass_received"]["per_receiver"] = dict(received)
            result["welcome"]["delays"] = list(delays)
        return result


class Stats:
    """Counters per corp."""

    def __init__(self) -> None:
        self.corps: dict[str, CorpStats] = defaultdict(CorpStats)

    def corp(self, corpid: str) -> CorpStats:
        return self.corps[corpid]

    def answered(self, corpid: str, api: str, code: int) -> None:
        stats = self.corps[corpid]
        stats.calls[api] += 1
        stats.codes[api][code] += 1

    def snapshot(self, corpid: str | None = None, detail: bool = False) -> dict:
        """Everything for one corp, or ``{"corps": {corpid: ...}}`` for all."""
        if corpid is not None:
            return self.corps[corpid].snapshot(detail)
        return {"corps": {corp: stats.snapshot(detail) for corp, stats in list(self.corps.items())}}
