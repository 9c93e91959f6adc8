"""Readers of a shared page as the page reports them (a heartbeat every 5 s while visible, a batch every 10 s, the
open sent at once, leave at the end), for the tracking bench and tests."""

from __future__ import annotations

import random
from typing import Any

HEARTBEAT_MS = 5_000
FLUSH_MS = 10_000


def reading(rng: random.Random, start_ms: int) -> list[tuple[int, list[dict[str, Any]]]]:
    """One reader as the page reports: (send time, batch) — the open at once, then a batch every 10 s, then leave."""
    dwell = rng.randint(20, 180) * 1000
    events: list[dict[str, Any]] = [{"seq": 0, "type": "open", "at": start_ms}]
    depths = iter((25, 50, 75, 100))
    for t in range(HEARTBEAT_MS, dwell + 1, HEARTBEAT_MS):
        events.append({"seq": len(events), "type": "heartbeat", "at": start_ms + t, "visible_ms": HEARTBEAT_MS})
        if t % 20_000 == 0:
            depth = next(depths, None)
            if depth is not None:
                events.append({"seq": len(events), "type": "scroll", "at": start_ms + t, "depth": depth})
    if rng.random() < 0.1:
        events.append({"seq": len(events), "type": "action", "at": start_ms + dwell, "action": "forward"})
    events.append({"seq": len(events), "type": "leave", "at": start_ms + dwell + 500, "visible_ms": 500})
    batches: list[tuple[int, list[dict[str, Any]]]] = [(start_ms, [events[0]])]
    pending: list[dict[str, Any]] = []
    next_flush = start_ms + FLUSH_MS
    for event in events[1:]:
        while event["at"] >= next_flush:
            if pending:
                batches.append((next_flush, pending))
                pending = []
            next_flush += FLUSH_MS
        pending.append(event)
    batches.append((events[-1]["at"], pending))
    return batches
