"""The batch state machine: allowed transitions, leases, unknown outcomes and their reconciliation."""

from __future__ import annotations

import pytest

from chalicelib.domain import dispatch_state as ds
from chalicelib.domain.dispatch_state import BatchState, BatchStatus, InvalidTransition


def claimed(worker: str = "w1", now: float = 100.0) -> BatchState:
    return ds.claim(BatchState(), worker, now, lease_seconds=60)


def test_happy_path_bumps_version_and_records_msgid():
    state = claimed()
    assert (state.status, state.version, state.attempts, state.lease_until) == (BatchStatus.CLAIMED, 1, 1, 160.0)
    sent = ds.mark_sent(state, "w1", "msgA", ("wmx",))
    assert (sent.status, sent.version, sent.msgid, sent.fail_list) == (BatchStatus.SENT, 2, "msgA", ("wmx",))


def test_only_the_holder_records_the_outcome():
    with pytest.raises(InvalidTransition, match="another worker"):
        ds.mark_sent(claimed("w1"), "w2", "msgA")


def test_a_batch_cannot_be_claimed_twice_or_after_it_is_final():
    with pytest.raises(InvalidTransition):
        ds.claim(claimed(), "w2", 110, 60)
    sent = ds.mark_sent(claimed(), "w1", "m")
    for step in (lambda s: ds.claim(s, "w", 0, 1), ds.cancel, lambda s: ds.reconcile(s, None)):
        with pytest.raises(InvalidTransition):
            step(sent)


def test_expired_lease_means_unknown_never_straight_back_to_pending():
    state = claimed(now=100)
    with pytest.raises(InvalidTransition, match="still running"):
        ds.expire_lease(state, now=159)
    unknown = ds.expire_lease(state, now=160)
    assert unknown.status is BatchStatus.UNKNOWN
    with pytest.raises(InvalidTransition):
        ds.claim(unknown, "w2", 200, 60)


def test_reconcile_sends_or_reopens():
    unknown = ds.mark_unknown(claimed(), "w1", "timeout")
    assert ds.reconcile(unknown, "msgB").msgid == "msgB"
    reopened = ds.reconcile(unknown, None)
    assert reopened.status is BatchStatus.PENDING
    assert ds.claim(reopened, "w2", 300, 60).attempts == 2


def test_release_and_fail_and_cancel():
    released = ds.release(claimed(), "w1", "no rate token")
    assert (released.status, released.claimed_by) == (BatchStatus.PENDING, "")
    assert ds.mark_failed(claimed(), "w1", "40007 invalid media_id").reason == "40007 invalid media_id"
    assert ds.cancel(BatchState()).status is BatchStatus.CANCELLED
    with pytest.raises(InvalidTransition):
        ds.cancel(claimed())
    with pytest.raises(ValueError, match="msgid"):
        ds.mark_sent(claimed(), "w1", "")
