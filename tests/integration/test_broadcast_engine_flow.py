"""The engine against the WeCom simulator (moto in-process, workers driven in-process): plan → dispatch → follow,
with -1 answers, lost responses (reconciled, never resent blindly), worker crashes after the claim and after the call
(lease expiry → reconcile), and 45009 (released and retried later). Every planned customer receives exactly once."""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from chalicelib import resources
from chalicelib.domain import dispatch_state as ds
from chalicelib.domain.broadcasts import Status
from chalicelib.domain.dispatch_policy import MAX_ATTEMPTS
from chalicelib.services.broadcast_results import Follower
from chalicelib.services.broadcasts import create_broadcast, preview_broadcast
from chalicelib.services.dispatch import Dispatcher
from chalicelib.store.broadcasts import BroadcastStore
from chalicelib.store.rate_limits import Limits, RateLimiter
from chalicelib.workers.plan import handle_plan_message
from local.wecom_sim import SimConfig, Simulator

TENANT = "bc-corp"
ADD = "externalcontact/add_msg_template"


class Clock:
    """Real time plus an offset the test advances (lease expiry, settling) without sleeping."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


class SharedClock(Clock):
    """The test clock with the simulator's clock moved along (WeCom judges its limits by its own clock)."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        super().__init__()

    @property
    def offset(self) -> float:
        return self._offset

    @offset.setter
    def offset(self, value: float) -> None:
        if hasattr(self, "_offset"):
            self.sim.clock.advance(value - self._offset)
        self._offset = value


Start = Callable[[SimConfig], tuple[Simulator, Any]]


@pytest.fixture
def start(sim_tenant_factory: Any, monkeypatch: pytest.MonkeyPatch) -> Start:
    """Tenant `bc-corp` for a company of 8 employees, 160 customers and 6 tags, its customers in the store, on a
    simulator with the given config; WeCom calls time out after 2 s."""

    def start_with(config: SimConfig) -> tuple[Simulator, Any]:
        monkeypatch.setenv("WECOM_TIMEOUT_SECONDS", "2")
        tenant = sim_tenant_factory(TENANT, config=config, employees=8, customers=160, tags=6, customers_in_store=True)
        return tenant.sim, tenant.company

    return start_with


def receive_all(queue: resources.Queue) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=queue.name)["QueueUrl"]
    bodies = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return bodies
        for message in got:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def run(broadcast_id: str, clock: Clock, crash_at: dict[str, int], sim: Simulator, limiter: RateLimiter) -> list[str]:
    """Plan, then dispatch until every message is acknowledged; a crash leaves its message to be redelivered
    after the lease (as SQS would after the visibility timeout). Returns the outcomes."""
    while plan := receive_all(resources.PLAN):
        for body in plan:
            handle_plan_message(body)
    pending = deque(receive_all(resources.DISPATCH))
    outcomes = []

    def checkpoint(point: str) -> None:
        if crash_at.get(point, 0) > 0:
            crash_at[point] -= 1
            raise RuntimeError(f"worker killed {point}")

    for _ in range(500):
        if not pending:
            return outcomes
        body = pending.popleft()
        dispatcher = Dispatcher(TENANT, clock=clock, checkpoint=checkpoint, limiter=limiter)
        try:
            outcome = dispatcher.handle(body["broadcast_id"], body["batch_id"], body.get("turn_at", 0.0))
        except RuntimeError as crash:
            outcomes.append(str(crash))
            clock.offset += 61
            pending.append(body)
            continue
        outcomes.append(outcome.result)
        if outcome.retry:
            if outcome.result == "retry:RateLimited":
                sim.clock.advance(outcome.delay)
            clock.offset += min(outcome.delay, 20)
            pending.append({**body, "turn_at": outcome.turn_at})
    raise AssertionError(f"dispatch did not settle: {outcomes[-10:]}")


def follow(broadcast_id: str, sim: Simulator) -> list[str]:
    """Follow passes until done (a pass WeCom throttles ends early and continues after the block)."""
    sim.clock.advance(120)
    outcomes: list[str] = []
    cursor = ""
    for _ in range(20):
        outcome = Follower(TENANT).follow(broadcast_id, cursor)
        outcomes.append(outcome.result)
        if outcome.result == "done":
            return outcomes
        sim.clock.advance(outcome.delay)
        cursor = outcome.cursor
    raise AssertionError(f"following did not settle: {outcomes}")


def check_exactly_once(sim: Simulator, company: Any, store: BroadcastStore, broadcast_id: str) -> dict[str, Any]:
    broadcast = store.get(broadcast_id)
    stats = sim.stats(company.corpid, detail=True)
    received = stats["mass_received"]["per_receiver"]
    assert broadcast.status == Status.DONE
    assert max(received.values()) == 1
    assert broadcast.counts["sent"] == len(received)
    assert (
        broadcast.counts["sent"] + broadcast.counts["rejected"] + broadcast.counts["not_friend"]
        == broadcast.counts["recipients"] - broadcast.counts["over_quota"]
    )
    return stats


@pytest.fixture
def limiter(aws: Any) -> RateLimiter:
    return RateLimiter(aws, Limits(inflight=4))


def test_busy_lost_and_crashes_deliver_exactly_once(aws: Any, start: Start, limiter: RateLimiter) -> None:
    config = SimConfig(
        seed=5, fault_error_share=0.25, fault_lost_share=0.25, fault_paths=frozenset({ADD}), dispatch_seconds=0
    )
    sim, company = start(config)
    tag = sorted(company.tags.tags)[0]
    expected = preview_broadcast(TENANT, {"tags": [tag]})
    broadcast = create_broadcast(
        TENANT, content={"text": {"content": "spring sale"}}, audience={"tags": [tag]}, start=True
    )
    clock = Clock()
    outcomes = run(broadcast.broadcast_id, clock, {"claimed": 1, "called": 1}, sim, limiter)
    store = BroadcastStore(TENANT)
    assert store.get(broadcast.broadcast_id).counts["recipients"] == expected["recipients"] > 0
    assert "worker killed claimed" in outcomes
    assert "worker killed called" in outcomes
    assert "unknown" in outcomes
    assert any(o.startswith("retry:SystemBusy") for o in outcomes)
    faults = sim.stats(company.corpid)
    assert faults["codes"][ADD].get("-1", 0) > 0
    follow(broadcast.broadcast_id, sim)
    check_exactly_once(sim, company, store, broadcast.broadcast_id)
    created = sum(1 for b in store.batches(broadcast.broadcast_id).items if b.state.msgid)
    assert created == len(company.mass.messages)


def test_throttled_batches_are_released_and_retried(aws: Any, start: Start, limiter: RateLimiter) -> None:
    sim, company = start(SimConfig(seed=9, corp_api_per_minute=3, dispatch_seconds=0))
    broadcast = create_broadcast(
        TENANT, content={"text": {"content": "hello"}}, audience={"all_customers": True}, start=True
    )
    outcomes = run(broadcast.broadcast_id, Clock(), {}, sim, limiter)
    assert "retry:RateLimited" in outcomes
    store = BroadcastStore(TENANT)
    assert all(b.state.status.value == "sent" for b in store.batches(broadcast.broadcast_id).items)
    follow(broadcast.broadcast_id, sim)
    check_exactly_once(sim, company, store, broadcast.broadcast_id)


def test_batches_over_our_own_limit_book_turns_instead_of_polling(aws: Any, start: Start) -> None:
    """With the corp bucket at 6 calls a minute, every batch beyond the first is put back once, holding a booked
    turn, and makes its one call when the turn comes: no 45009, no batch asks twice."""
    sim, company = start(SimConfig(seed=13, corp_api_per_minute=6, dispatch_seconds=0))
    limits = Limits(corp=((6, 60.0), (360, 3600.0)), inflight=4, margin=1.0)
    clock = SharedClock(sim)
    limiter = RateLimiter(aws, limits, clock=clock)
    broadcast = create_broadcast(
        TENANT, content={"text": {"content": "hello"}}, audience={"all_customers": True}, start=True
    )
    outcomes = run(broadcast.broadcast_id, clock, {}, sim, limiter)
    store = BroadcastStore(TENANT)
    batches = store.batches(broadcast.broadcast_id).items
    assert len(batches) == 8
    assert outcomes.count("sent") == len(batches)
    assert outcomes.count("throttled:booked") == len(batches) - 1
    assert all(b.state.status.value == "sent" and b.state.attempts == 1 for b in batches)
    assert sim.stats(company.corpid)["codes"][ADD] == {"0": len(batches)}
    follow(broadcast.broadcast_id, sim)
    check_exactly_once(sim, company, store, broadcast.broadcast_id)


def test_throttled_tries_do_not_use_up_the_tries_for_errors(aws: Any, start: Start) -> None:
    """A batch WeCom throttled seven times still gets its full tries when WeCom then answers -1."""
    config = SimConfig(seed=17, fault_error_share=1.0, fault_paths=frozenset({ADD}), dispatch_seconds=0)
    start(config)
    broadcast = create_broadcast(
        TENANT, content={"text": {"content": "hi"}}, audience={"all_customers": True}, start=True
    )
    receive_all(resources.DISPATCH)
    while plan := receive_all(resources.PLAN):
        for body in plan:
            handle_plan_message(body)
    store = BroadcastStore(TENANT)
    batch = store.batches(broadcast.broadcast_id).items[0]
    for _ in range(7):
        claimed = store.transition(batch, ds.claim(batch.state, "w", time.time(), 60))
        batch = store.transition(claimed, ds.release(claimed.state, "w", "45009", throttled=True))
    assert (batch.state.attempts, batch.state.throttled) == (7, 7)
    limiter = RateLimiter(aws, Limits(inflight=4))
    outcomes = []
    for _ in range(MAX_ATTEMPTS):
        outcome = Dispatcher(TENANT, limiter=limiter).handle(broadcast.broadcast_id, batch.batch_id)
        outcomes.append(outcome.result)
    assert outcomes == ["retry:SystemBusy"] * (MAX_ATTEMPTS - 1) + ["failed"]
    failed = store.get_batch(broadcast.broadcast_id, batch.batch_id)
    assert (failed.state.attempts, failed.state.throttled) == (7 + MAX_ATTEMPTS, 7)
    assert failed.state.reason.startswith(f"gave up after {MAX_ATTEMPTS} attempts")
