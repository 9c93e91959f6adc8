"""A token bucket whose state is a plain value, so a DynamoDB conditional update can hold it for all Lambdas.

The adapter reads `BucketState`, calls `TokenBucket.take` (or `take_or_book`), and writes the new state on the
condition that the stored state is still the one it read (on a conflict it re-reads and tries again). A worker that
gets `granted=False` puts its message back with a delay of `wait_seconds` instead of sleeping inside Lambda.

Booking (`take_or_book`): when callers queue for a bucket (a backlog of mass-message batches behind one corp's limit),
each refused caller books a turn, one refill interval after the last booked one, and comes back at its turn to take a
token then. Without turns the whole backlog would come back together each time a token returned, and all but one would
go back to sleep: one message, one invocation and one bucket write per waiting batch per token. A token is still only
ever taken at call time, so a caller that comes back late cannot bunch calls above the limit; while turns are booked,
callers without one book behind them instead of taking the next token.

Sizing (`TokenBucket.within`): a bucket of capacity C refilled at r tokens/s lets through at most C + r·T tokens in
any window of T seconds. For each documented limit (N calls per T seconds) times a safety margin m, we need
C + r·T <= m·N. We take r as (1 - burst_share) of the tightest sustained rate min(m·N/T), then the largest C that
keeps every window within its limit. For WeCom's per corp per API limits (10,000/min and 150,000/h, WECOM.md §5.1)
with m = 0.8: r = 31.7/s (114,000/h) and C = 6,000, so no minute sees more than 7,900 calls and no hour 120,000.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

WECOM_API_LIMITS: tuple[tuple[int, float], ...] = ((10_000, 60.0), (150_000, 3600.0))
"""Per corp, per API: calls per window in seconds (path/90454, 2023/08/28)."""
DEFAULT_MARGIN = 0.8
DEFAULT_BURST_SHARE = 0.05
_EPSILON = 1e-9
"""Float slack, so that waiting exactly `wait_seconds` is always enough."""


class Throttled(Exception):
    """The shared limits refused a call; ask again after `wait` seconds."""

    def __init__(self, wait: float, reason: str) -> None:
        super().__init__(reason)
        self.wait = wait


@dataclass(frozen=True)
class BucketState:
    """Tokens left at time `at` (epoch seconds), and the last booked turn; what the store keeps."""

    tokens: float
    at: float
    booked_until: float = 0.0

    def to_item(self) -> dict[str, float]:
        return {"tokens": self.tokens, "at": self.at, "booked_until": self.booked_until}

    @classmethod
    def from_item(cls, item: dict[str, float]) -> BucketState:
        return cls(float(item["tokens"]), float(item["at"]), float(item.get("booked_until") or 0.0))


@dataclass(frozen=True)
class Take:
    """The answer to a request for tokens: granted with the new state, or the seconds to wait before asking again;
    `booked` when that wait is a turn booked in the new state (come back then holding it)."""

    granted: bool
    wait_seconds: float
    state: BucketState
    booked: bool = False


@dataclass(frozen=True)
class TokenBucket:
    capacity: float
    refill_per_second: float

    def __post_init__(self) -> None:
        if self.capacity <= 0 or self.refill_per_second <= 0:
            raise ValueError("capacity and refill rate must be positive")

    @classmethod
    def within(
        cls,
        limits: tuple[tuple[int, float], ...] = WECOM_API_LIMITS,
        margin: float = DEFAULT_MARGIN,
        burst_share: float = DEFAULT_BURST_SHARE,
    ) -> TokenBucket:
        """The bucket that keeps every (calls, seconds) window under `margin` of its limit."""
        if not 0 < margin <= 1 or not 0 < burst_share < 1:
            raise ValueError("margin must be in (0, 1], burst_share in (0, 1)")
        rate = (1 - burst_share) * min(margin * n / t for n, t in limits)
        capacity = math.floor(min(margin * n - rate * t for n, t in limits))
        if capacity < 1:
            # A bucket holds at least one token; the refill then gives way so that 1 + r·T still fits each window.
            capacity, rate = 1, min(rate, *((margin * n - 1) / t for n, t in limits))
        return cls(float(capacity), rate)

    def full(self, now: float) -> BucketState:
        """A fresh bucket (what to assume when the store holds no state yet)."""
        return BucketState(self.capacity, now)

    def level(self, state: BucketState, now: float) -> float:
        """Tokens available at `now` (a clock that went backwards refills nothing)."""
        return min(self.capacity, state.tokens + max(0.0, now - state.at) * self.refill_per_second)

    def take_or_book(self, state: BucketState, now: float, horizon: float, holds_turn: bool = False) -> Take:
        """One token now if it is there and nobody is queued ahead (`holds_turn`: the caller's booked turn has come);
        otherwise a turn booked one refill interval after the last one, at most `horizon` seconds ahead (beyond
        that: refused, with the wait until a turn would fit)."""
        queued = state.booked_until > now
        if holds_turn or not queued:
            take = self.take(state, 1, now)
            if take.granted or holds_turn:
                # A caller late for its turn may find its token taken by another late one: it keeps its place and
                # asks again when the next token is there, rather than go to the back of the queue.
                return replace(take, booked=not take.granted)
        level = self.level(state, now)
        free_at = now + max(0.0, (1 - level) / self.refill_per_second)
        turn = max(free_at, state.booked_until + 1 / self.refill_per_second) if queued else free_at
        held = replace(state, at=max(now, state.at), tokens=level)
        if turn - now > horizon:
            return Take(False, turn - now - horizon, held)
        return Take(False, turn - now, replace(held, booked_until=turn), booked=True)

    def take(self, state: BucketState, n: float, now: float) -> Take:
        """Take `n` tokens at `now` if they are there; otherwise say how long until they will be."""
        if not 0 < n <= self.capacity:
            raise ValueError(f"cannot take {n} tokens from a bucket of {self.capacity}")
        available = self.level(state, now)
        stamp = max(now, state.at)
        if available >= n - _EPSILON:
            return Take(True, 0.0, BucketState(max(0.0, available - n), stamp, state.booked_until))
        return Take(False, (n - available) / self.refill_per_second, BucketState(available, stamp, state.booked_until))
