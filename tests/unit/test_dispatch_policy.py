"""The dispatch worker's retry policy and reconcile matching, without moto."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain import dispatch_policy as policy
from chalicelib.domain.dispatch_state import BatchState, BatchStatus
from chalicelib.domain.wecom_limits import BLOCK_SECONDS_AFTER_MINUTE_LIMIT

Failure = policy.Failure


def claimed(attempts: int, throttled: int) -> BatchState:
    return BatchState(BatchStatus.CLAIMED, attempts=attempts, throttled=throttled)


def test_own_errors_give_up_after_max_attempts_however_long_the_batch_was_throttled():
    assert not policy.after_failure(claimed(7 + 39, 39), Failure.OTHER, 0.5).give_up
    last = policy.after_failure(claimed(39 + policy.MAX_ATTEMPTS, 39), Failure.OTHER, 0.5)
    assert last.give_up
    assert last.tries == policy.MAX_ATTEMPTS


def test_throttling_gives_up_only_after_its_own_count():
    assert not policy.after_failure(claimed(policy.MAX_ATTEMPTS + 5, 0), Failure.RATE_LIMITED, 0.5).give_up
    spent = policy.after_failure(claimed(60, policy.MAX_THROTTLED_ATTEMPTS - 1), Failure.CONCURRENCY_LIMITED, 0.0)
    assert spent == policy.Retry(True, policy.MAX_THROTTLED_ATTEMPTS)


def test_waits_match_the_failure():
    assert policy.after_failure(claimed(1, 0), Failure.RATE_LIMITED, 0.9).delay == BLOCK_SECONDS_AFTER_MINUTE_LIMIT
    assert policy.after_failure(claimed(1, 0), Failure.CONCURRENCY_LIMITED, 0.0).delay == 1
    assert policy.after_failure(claimed(1, 0), Failure.CONCURRENCY_LIMITED, 0.99).delay == 3
    assert policy.after_failure(claimed(3, 0), Failure.OTHER, 0.0).delay == 4
    assert policy.after_failure(claimed(3, 0), Failure.OTHER, 0.999).delay == 8


@given(st.integers(0, 200), st.floats(0, 1, exclude_max=True), st.sampled_from(list(Failure)))
def test_every_retry_is_a_valid_sqs_delay(attempts, jitter, failure):
    retry = policy.after_failure(claimed(attempts, 0), failure, jitter)
    assert retry.give_up or 1 <= retry.delay <= policy.MAX_DELAY_SECONDS


def test_queue_delay_is_whole_seconds_within_sqs_bounds():
    assert [policy.queue_delay(s) for s in (-5, 0, 0.2, 1.0, 1.01, 899.5, 5000)] == [1, 1, 1, 1, 2, 900, 900]


def test_a_candidate_has_the_text_and_a_msgid_no_other_batch_holds():
    message = {"msgid": "m1", "text": {"content": "Sale"}}
    assert policy.candidate_msgid(message, "Sale", set()) == "m1"
    assert policy.candidate_msgid(message, "Sale", {"m1"}) is None
    assert policy.candidate_msgid(message, "Other", set()) is None
    assert policy.candidate_msgid({"text": {"content": "Sale"}}, "Sale", set()) is None
    assert policy.candidate_msgid({"msgid": "m2"}, "", set()) == "m2"


def test_the_batch_is_the_candidate_whose_recipients_are_some_of_its_own():
    assert policy.is_the_batch({"a", "b"}, {"a", "b", "c"})
    assert not policy.is_the_batch({"a", "x"}, {"a", "b"})
    assert not policy.is_the_batch(set(), {"a"})
    assert policy.is_the_batch({"g1"}, set())
