"""Planning shards: the ranges of sender userids a broadcast's planning is split into, planned in parallel.

A shard covers the senders from `low` (inclusive) to `high` (exclusive); `split_senders` cuts the userid space into
contiguous ranges holding about as many known senders each, so every audience row falls in exactly one shard. Plain
data, light to import: the store reads and writes shards on the API's import path.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class SenderRange:
    """The senders one planning shard judges: userids from `low` (inclusive) to `high` (exclusive); an empty bound is
    open, so ranges cut with `split_senders` cover every userid, including senders nobody listed."""

    low: str = ""
    high: str = ""

    def __contains__(self, userid: object) -> bool:
        return isinstance(userid, str) and self.low <= userid and (not self.high or userid < self.high)


EVERY_SENDER = SenderRange()


def split_senders(senders: Iterable[str], shards: int, min_senders: int = 1) -> tuple[SenderRange, ...]:
    """Cut the userid space into at most `shards` contiguous ranges holding about as many of `senders` each (and at
    least `min_senders`), together covering every userid exactly once."""
    ordered = sorted(set(senders))
    count = max(1, min(shards, len(ordered) // max(1, min_senders)))
    bounds = [ordered[len(ordered) * i // count] for i in range(1, count)]
    return tuple(SenderRange(low, high) for low, high in zip(["", *bounds], [*bounds, ""], strict=True))


@dataclass(frozen=True)
class PlanShard:
    """One shard of a broadcast's planning: its senders, the pages planned, the cursor and planner state after them
    (`state`: `PlanState.dumps()`, empty before the first page)."""

    shard: int
    senders: SenderRange
    page: int = 0
    cursor: str = ""
    state: str = ""
    done: bool = False
