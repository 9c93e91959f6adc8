"""Planning in parallel shards (moto in-process, the plan worker driven in-process): shards interleaved page by page
with duplicate deliveries complete the plan exactly once with the preview's numbers and one planner's batches; a shard
that crashes mid-page or between its last checkpoint and moving the broadcast on resumes from its checkpoint when its
message is redelivered, and no recipient is planned twice."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import boto3
import pytest

from chalicelib import resources
from chalicelib.domain.broadcasts import Status
from chalicelib.domain.planning import batch_id
from chalicelib.services import broadcast_plan
from chalicelib.services.broadcast_plan import PlanWorker
from chalicelib.services.broadcasts import create_broadcast, preview_broadcast
from chalicelib.store.broadcasts import BroadcastStore
from chalicelib.store.customers import CustomerStore

TENANT = "shard-corp"


def receive_all(queue: resources.Queue) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=queue.name)["QueueUrl"]
    bodies = []
    while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in got:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


@pytest.fixture
def tenant(sim_tenant_factory: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """12 employees (3 shards of 4), 150 customers in the store, pages of 9 audience rows."""
    monkeypatch.setattr(broadcast_plan, "PAGE_SIZE", 9)
    return sim_tenant_factory(TENANT, employees=12, customers=150, tags=4, customers_in_store=True)


def start(audience: dict[str, Any]) -> str:
    broadcast = create_broadcast(TENANT, content={"text": {"content": "sale"}}, audience=audience, start=True)
    return broadcast.broadcast_id


def deliver(body: dict[str, Any]) -> str:
    """One plan message through a worker that plans two pages per invocation."""
    shard = body.get("shard")
    return PlanWorker(TENANT, pages_per_invocation=2).run(body["broadcast_id"], shard, body["page"])


def drain_plan(duplicate: bool = False) -> Counter[str]:
    """Deliver plan messages until none is left, shards interleaved (each round takes one message per shard); with
    `duplicate`, every message is delivered twice. Returns the outcomes."""
    outcomes: Counter[str] = Counter()
    while bodies := receive_all(resources.PLAN):
        for body in bodies:
            for _ in range(2 if duplicate else 1):
                outcomes[deliver(body)] += 1
    return outcomes


def planned_recipients(broadcast_id: str) -> Counter[str]:
    store = BroadcastStore(TENANT)
    recipients: Counter[str] = Counter()
    for batch in store.batches(broadcast_id).items:
        recipients.update(store.recipients(broadcast_id, batch))
    return recipients


def check_plan(broadcast_id: str, expected: dict[str, Any]) -> None:
    """The broadcast moved on with the preview's numbers; each recipient is in one batch; a sender's batches are
    numbered 0.. as one planner numbers them; every batch was handed to dispatch."""
    store = BroadcastStore(TENANT)
    broadcast = store.get(broadcast_id)
    assert broadcast.status == Status.DISPATCHING
    assert broadcast.counts["recipients"] == expected["recipients"] > 0
    assert broadcast.counts["senders"] == expected["senders"]
    assert broadcast.counts["batches"] == expected["batches"]
    assert broadcast.skipped == expected["skipped"]
    recipients = planned_recipients(broadcast_id)
    assert len(recipients) == expected["recipients"]
    assert max(recipients.values()) == 1
    batches = store.batches(broadcast_id).items
    for sender in {b.sender for b in batches}:
        sequences = sorted(b.sequence for b in batches if b.sender == sender)
        assert sequences == list(range(len(sequences)))
    assert all(b.batch_id == batch_id(broadcast_id, b.sender, b.sequence) for b in batches)
    dispatched = {m["batch_id"] for m in receive_all(resources.DISPATCH)}
    assert dispatched == {b.batch_id for b in batches}


def test_parallel_shards_complete_the_plan_exactly_once(aws: Any, tenant: Any) -> None:
    tag = sorted(tenant.company.tags.tags)[0]
    expected = preview_broadcast(TENANT, {"tags": [tag]})
    broadcast_id = start({"tags": [tag]})
    [root] = receive_all(resources.PLAN)
    assert "shard" not in root
    assert deliver(root) == "split"
    assert deliver(root) == "split"  # a redelivered split creates nothing new
    shards = BroadcastStore(TENANT).plan_shards(broadcast_id)
    assert [s.shard for s in shards] == [0, 1, 2]
    assert shards[0].senders.low == ""
    assert shards[-1].senders.high == ""

    outcomes = drain_plan(duplicate=True)

    assert outcomes["planned"] == 1
    assert outcomes["continued"] > 0
    assert all(s.done for s in BroadcastStore(TENANT).plan_shards(broadcast_id))
    check_plan(broadcast_id, expected)
    assert deliver({"broadcast_id": broadcast_id, "shard": 1, "page": 0}) == Status.DISPATCHING


def test_one_shard_has_every_row_and_the_same_plan(aws: Any, tenant: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """`PLAN_SHARDS=1` (the sequential path) plans the same audience into the same numbers."""
    monkeypatch.setenv("PLAN_SHARDS", "1")
    expected = preview_broadcast(TENANT, {"all_customers": True})
    broadcast_id = start({"all_customers": True})
    assert drain_plan()["planned"] == 1
    assert len(BroadcastStore(TENANT).plan_shards(broadcast_id)) == 1
    check_plan(broadcast_id, expected)


def test_a_crashed_shard_resumes_from_its_checkpoint(aws: Any, tenant: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Shard 1 dies after writing a page's parts and receipts but before its checkpoint; then the last shard dies
    after closing, before moving the broadcast on. Redelivered, each carries on from its checkpoint and the plan is
    the preview's, every recipient once."""
    expected = preview_broadcast(TENANT, {"all_customers": True})
    broadcast_id = start({"all_customers": True})
    assert deliver(receive_all(resources.PLAN)[0]) == "split"
    crashes = {"checkpoint": 1, "finish": 1}
    save = BroadcastStore.save_shard_checkpoint
    finish = PlanWorker._finish

    def crashing_checkpoint(self: BroadcastStore, bid: str, shard: int, **kwargs: Any) -> None:
        if shard == 1 and kwargs["page"] == 2 and crashes["checkpoint"]:
            crashes["checkpoint"] -= 1
            raise RuntimeError("worker killed before the checkpoint")
        save(self, bid, shard, **kwargs)

    def crashing_finish(self: PlanWorker, bid: str) -> str:
        if all(s.done for s in self.store.plan_shards(bid)) and crashes["finish"]:
            crashes["finish"] -= 1
            raise RuntimeError("worker killed before moving the broadcast on")
        return finish(self, bid)

    monkeypatch.setattr(BroadcastStore, "save_shard_checkpoint", crashing_checkpoint)
    monkeypatch.setattr(PlanWorker, "_finish", crashing_finish)
    outcomes: Counter[str] = Counter()
    while bodies := receive_all(resources.PLAN):
        for body in bodies:
            while True:  # SQS redelivers a message whose handler failed
                try:
                    outcomes[deliver(body)] += 1
                    break
                except RuntimeError as crash:
                    outcomes[str(crash)] += 1
    assert crashes == {"checkpoint": 0, "finish": 0}, outcomes
    assert outcomes["planned"] == 1
    assert outcomes["worker killed before the checkpoint"] == 1
    assert outcomes["worker killed before moving the broadcast on"] == 1
    check_plan(broadcast_id, expected)
    receipts = CustomerStore(TENANT).get_cards(planned_recipients(broadcast_id))
    assert all(len([r for r in c.receipts if r.broadcast_id == broadcast_id]) == 1 for c in receipts.values())
