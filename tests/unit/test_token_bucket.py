"""The token bucket: grants, waits, refill, and sizing within WeCom's documented limits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


@pytest.mark.parametrize(("limits", "margin"), [(((6, 60.0), (360, 3600.0)), 1.0), (((20, 60.0), (1200, 3600.0)), 0.8)])
def test_a_bucket_for_a_small_limit_keeps_one_token_and_slows_its_refill(limits, margin):
    bucket = TokenBucket.within(limits, margin=margin)
    assert bucket.capacity == 1
    for calls, seconds in limits:
        assert bucket.capacity + bucket.refill_per_second * seconds <= margin * calls + 1e-9


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


def test_refused_callers_book_turns_one_refill_apart_up_to_the_horizon():
    bucket = TokenBucket(capacity=2, refill_per_second=0.5)
    state = bucket.full(now=0.0)
    answers = []
    for _ in range(5):
        take = bucket.take_or_book(state, now=0.0, horizon=5.0)
        answers.append((take.granted, take.booked, take.wait_seconds))
        state = take.state
    assert answers == [
        (True, False, 0.0),
        (True, False, 0.0),
        (False, True, 2.0),
        (False, True, 4.0),
        (False, False, 1),
    ]
    assert state.booked_until == 4.0


def test_while_turns_are_booked_a_caller_without_one_books_behind_them():
    bucket = TokenBucket(capacity=1, refill_per_second=1.0)
    state = bucket.take(bucket.full(0.0), 1, 0.0).state
    first = bucket.take_or_book(state, now=0.0, horizon=60.0)
    assert (first.booked, first.wait_seconds) == (True, 1.0)
    late = bucket.take_or_book(first.state, now=0.9, horizon=60.0)
    assert (late.booked, late.wait_seconds) == (True, pytest.approx(1.1))
    turn = bucket.take_or_book(late.state, now=1.0, horizon=60.0, holds_turn=True)
    assert turn.granted
    also_late = bucket.take_or_book(turn.state, now=1.0, horizon=60.0, holds_turn=True)
    assert (also_late.granted, also_late.booked, also_late.wait_seconds) == (False, True, pytest.approx(1.0))
    assert also_late.state.booked_until == turn.state.booked_until
    stranger = bucket.take_or_book(turn.state, now=1.5, horizon=60.0)
    assert stranger.booked
    assert stranger.state.booked_until == pytest.approx(3.0)


@settings(max_examples=200, deadline=None)
@given(
    arrivals=st.lists(st.floats(min_value=0, max_value=300, allow_nan=False), min_size=1, max_size=300),
    lateness=st.lists(st.floats(min_value=0, max_value=120, allow_nan=False), min_size=1, max_size=300),
)
def test_callers_coming_back_late_for_their_turns_never_exceed_a_window(arrivals, lateness):
    """Each caller comes back some time after its turn (SQS and Lambda are not punctual); tokens are only taken at
    call time, so no minute sees more calls than the bucket's bound, and everyone is served."""
    bucket = TokenBucket.within(((20, 60.0), (600, 3600.0)), margin=0.8)
    state, calls = bucket.full(0.0), []
    waiting = [(t, i, False) for i, t in enumerate(arrivals)]
    served = 0
    while waiting:
        waiting.sort()
        now, i, holds_turn = waiting.pop(0)
        take = bucket.take_or_book(state, now, horizon=600.0, holds_turn=holds_turn)
        state = take.state
        if take.granted:
            calls.append(now)
            served += 1
        else:
            waiting.append((now + take.wait_seconds + lateness[i % len(lateness)], i, take.booked))
    assert served == len(arrivals)
    for i, start in enumerate(calls):
        assert sum(1 for t in calls[i:] if t < start + 60) <= bucket.capacity + bucket.refill_per_second * 60 + 1e-6
