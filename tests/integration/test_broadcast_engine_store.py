"""The broadcast store on moto: create/get/list newest first, batches and their state machine as conditional
writes, parts, counters, results paging, policy and timers."""

from __future__ import annotations

import pytest

from chalicelib.config import Settings
from chalicelib.domain import dispatch_state as ds
from chalicelib.domain.broadcast_policy import Policy
from chalicelib.domain.broadcasts import CustomerResult, Status
from chalicelib.domain.frequency import AtMostPerDays, FrequencyPolicy, WeComQuota
from chalicelib.store.broadcast_timers import START, due_timers, minute_bucket, remove_timer
from chalicelib.store.broadcasts import BroadcastStore
from chalicelib.store.dynamo import Conflict

CONTENT = {"text": "hello", "attachments": []}
AUDIENCE = {"tags": ["t1"]}


def test_create_get_and_list_newest_first(aws: Settings) -> None:
    store = BroadcastStore("tenant-a", aws)
    ids = [
        store.create(chat_type="single", content=CONTENT, audience=AUDIENCE, now=1000 + i).broadcast_id
        for i in range(5)
    ]
    got = store.get(ids[0])
    assert got is not None
    assert (got.status, got.content, got.audience) == (Status.DRAFT, CONTENT, AUDIENCE)
    first = store.list(limit=2)
    assert [b.broadcast_id for b in first.items] == [ids[4], ids[3]]
    second = store.list(limit=2, cursor=first.cursor)
    assert [b.broadcast_id for b in second.items] == [ids[2], ids[1]]
    assert BroadcastStore("tenant-b", aws).list().items == []
    assert BroadcastStore("tenant-b", aws).get(ids[0]) is None


def test_status_moves_only_from_expected(aws: Settings) -> None:
    store = BroadcastStore("tenant-a", aws)
    b = store.create(chat_type="single", content=CONTENT, audience=AUDIENCE)
    store.set_status(b.broadcast_id, Status.PLANNING, expect=[Status.DRAFT])
    with pytest.raises(Conflict):
        store.set_status(b.broadcast_id, Status.PLANNING, expect=[Status.DRAFT])
    store.add_counts(b.broadcast_id, sent=3, rejected=1)
    store.add_counts(b.broadcast_id, sent=2)
    counts = store.get(b.broadcast_id).counts
    assert (counts["sent"], counts["rejected"]) == (5, 1)


def test_batches_parts_and_conditional_transitions(aws: Settings) -> None:
    store = BroadcastStore("tenant-a", aws)
    bid = store.create(chat_type="single", content=CONTENT, audience=AUDIENCE).broadcast_id
    store.put_parts(bid, [("b1", 0, ["c1", "c2"]), ("b1", 1, ["c3"]), ("b2", 0, ["c4"])])
    assert store.put_batches(bid, [("b1", "u1", 0, 3, 2), ("b2", "u2", 0, 1, 1)]) == ["b1", "b2"]
    assert store.put_batches(bid, [("b1", "u1", 0, 3, 2)]) == []
    batch = store.get_batch(bid, "b1")
    assert store.recipients(bid, batch) == ["c1", "c2", "c3"]
    claimed = store.transition(batch, ds.claim(batch.state, "w1", 100.0, 60.0), attempt_at=100.0)
    with pytest.raises(Conflict):
        store.transition(batch, ds.claim(batch.state, "w2", 100.0, 60.0))
    store.transition(claimed, ds.mark_sent(claimed.state, "w1", "msg-1", ("c3",)))
    stored = store.get_batch(bid, "b1")
    assert (stored.state.status, stored.state.msgid) == (ds.BatchStatus.SENT, "msg-1")
    assert (stored.state.fail_list, stored.attempt_at) == (("c3",), 100.0)
    assert [b.batch_id for b in store.batches(bid).items] == ["b1", "b2"]


def test_results_paging_policy_and_timers(aws: Settings) -> None:
    store = BroadcastStore("tenant-a", aws)
    bid = store.create(chat_type="single", content=CONTENT, audience=AUDIENCE).broadcast_id
    store.put_customer_results(bid, [CustomerResult(f"c{i:02d}", "u1", "sent") for i in range(5)])
    page = store.customer_results(bid, limit=3)
    rest = store.customer_results(bid, limit=3, cursor=page.cursor)
    assert [r.recipient for r in page.items + rest.items] == [f"c{i:02d}" for i in range(5)]
    assert rest.cursor is None
    store.add_employee_msgid(bid, "u1", "m1")
    store.add_employee_msgid(bid, "u1", "m1")
    store.add_employee_msgid(bid, "u1", "m2")
    assert store.employee_result(bid, "u1").msgids == ("m1", "m2")
    assert store.get_policy() == Policy()
    policy = Policy(FrequencyPolicy(WeComQuota.WEEKLY, (AtMostPerDays(2, 7),)), follow_hours=24)
    store.put_policy(policy)
    assert store.get_policy() == policy
    store.set_timer(bid, START, 1_700_000_030)
    timers = list(due_timers([minute_bucket(1_700_000_030)]))
    assert [(t.tenant_id, t.broadcast_id, t.kind) for t in timers] == [("tenant-a", bid, START)]
    remove_timer(timers[0])
    assert list(due_timers([minute_bucket(1_700_000_030)])) == []
