"""The token bucket: grants, waits, refill, and sizing within WeCom's documented limits."""

from __future__ import annotations

import pytest

from chalicelib.domain.token_bucket import WECOM_API_LIMITS, BucketState, TokenBucket


def test_grants_until_empty_then_says_how_long_to_wait():
    bucket = TokenBucket(capacity=10, refill_per_second=2)
    state = bucket.full(now=100.0)
    first = bucket.take(state, 8, now=100.0)
    assert first.granted
    assert first.state == BucketState(2.0, 100.0)
    refused = bucket.take(first.state, 5, now=100.0)
    assert not refused.granted
    assert refused.wait_seconds == pytest.approx(1.5)
    later = bucket.take(refused.state, 5, now=101.5)
    assert later.granted
    assert later.state.tokens == pytest.approx(0.0)


def test_refill_stops_at_capacity_and_a_clock_going_back_refills_nothing():
    bucket = TokenBucket(capacity=10, refill_per_second=1)
    assert bucket.level(BucketState(0, 0), now=1000) == 10
    assert bucket.level(BucketState(3, 50), now=40) == 3
    assert bucket.take(BucketState(3, 50), 1, now=40).state.at == 50


def test_cannot_ask_for_more_than_the_capacity():
    with pytest.raises(ValueError, match="cannot take"):
        TokenBucket(5, 1).take(BucketState(5, 0), 6, now=0)


def test_state_round_trips_as_a_plain_item():
    state = BucketState(12.5, 1_700_000_000.25)
    assert BucketState.from_item(state.to_item()) == state


@pytest.mark.parametrize("margin", [0.5, 0.8, 1.0])
def test_sized_bucket_keeps_every_window_under_the_limit(margin):
    bucket = TokenBucket.within(WECOM_API_LIMITS, margin=margin)
    for calls, seconds in WECOM_API_LIMITS:
        assert bucket.capacity + bucket.refill_per_second * seconds <= margin * calls + 1e-6


def test_wecom_default_sizing_figures():
    bucket = TokenBucket.within()
    assert bucket.capacity == 6000
    assert bucket.refill_per_second == pytest.approx(31.67, abs=0.01)


def test_simulated_greedy_callers_never_exceed_a_minute_limit():
    bucket = TokenBucket.within(margin=0.8)
    state, granted_at = bucket.full(0.0), []
    now = 0.0
    while now < 600:
        take = bucket.take(state, 1, now)
        state = take.state
        if take.granted:
            granted_at.append(now)
        else:
            now += take.wait_seconds
    for start in range(0, 540, 7):
        assert sum(1 for t in granted_at if start <= t < start + 60) <= 8000
