"""A mass message by tag end to end on the local stack: planned and dispatched by the pump's handlers against the
WeCom simulator with -1 answers and lost responses on add_msg_template, two dispatch workers killed mid-batch (one
after its claim, one after WeCom created the task and before it was recorded), then followed to per-customer results
(sent, not a friend, over quota) once the simulated senders confirm.

The killed workers are second workers for batches still pending (SQS delivers at least once) that die holding a 3 s
lease, so the pump's worker for the same batch waits for the lease and reconciles within seconds; the WeCom client
times out after 2 s.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from chalicelib.domain.broadcasts import Broadcast, Status
from chalicelib.services.broadcasts import create_broadcast, preview_broadcast, start_broadcast
from chalicelib.store.broadcasts import BroadcastStore
from local.environment import DemoEnvironment
from local.mass_message import (
    ADD_MSG_TEMPLATE,
    Kill,
    WeComView,
    WorkerKiller,
    fast_forward_follow,
    seed_customers,
    tag_share,
    wait_dispatched,
    wecom_view,
)
from local.wecom_sim import SimConfig

pytestmark = pytest.mark.e2e

TEXT = "春季上新 e2e"
CONFIG = SimConfig(
    seed=11,
    fault_error_share=0.15,
    fault_lost_share=0.15,
    fault_paths=frozenset({ADD_MSG_TEMPLATE}),
    confirm_delay=600,
    dispatch_seconds=1,
    quota_rule="day_1",
)


@dataclass
class Run:
    env: DemoEnvironment
    broadcast: Broadcast
    dispatched: Broadcast
    planned: dict[str, str]
    kills: list[Kill]
    before_follow: WeComView
    not_friend: str
    over_quota: str
    stats: dict[str, Any]


def planned_recipients(store: BroadcastStore, broadcast_id: str) -> dict[str, str]:
    """recipient → batch id, from the stored batch parts."""
    return {r: b.batch_id for b in store.batches(broadcast_id).items for r in store.recipients(broadcast_id, b)}


@pytest.fixture(scope="module")
def run() -> Iterator[Run]:
    with DemoEnvironment(
        employees=12,
        customers=300,
        sim_config=CONFIG,
        environment={"WECOM_TIMEOUT_SECONDS": "2"},
        access_log=False,
    ) as env:
        assert env.tenant is not None
        assert env.stack is not None
        tenant = env.tenant.tenant_id
        tag, _ = tag_share(env.sim, env.company, 0.6)
        seed_customers(tenant, env.company)
        expected = preview_broadcast(tenant, {"tags": [tag]})
        broadcast = create_broadcast(tenant, content={"text": {"content": TEXT}}, audience={"tags": [tag]})
        killer = WorkerKiller(tenant, broadcast.broadcast_id, lease_seconds=3, poll_seconds=0.005)
        killing = killer.kill_concurrently(("claimed", "called"), timeout=30)
        start_broadcast(tenant, broadcast.broadcast_id)
        killing.join()
        # Long enough for a batch whose handler overran its timeout on a loaded machine to come back after the
        # dispatch queue's visibility timeout (120 s) and settle: that path is part of what is being proven.
        dispatched = wait_dispatched(tenant, broadcast.broadcast_id, timeout=240)
        assert dispatched.counts["recipients"] == expected["recipients"] > 100
        store = BroadcastStore(tenant)
        planned = planned_recipients(store, broadcast.broadcast_id)
        before = wecom_view(env.sim, env.company, TEXT)

        # Before the senders confirm: one recipient deletes their employee, another has used today's quota.
        not_friend, over_quota = sorted(planned)[:2]
        env.sim.emitter(env.company).customer_deleted_employee(not_friend, planned_sender(env, not_friend)).wait(10)
        with env.sim.lock:
            confirm_at = next(
                task.confirm_at
                for message in env.company.mass.messages.values()
                for userid, records in message.results.items()
                if any(r.receiver == over_quota for r in records)
                for task in [message.tasks[userid]]
            )
            while env.company.mass.quota.try_receive(over_quota, confirm_at):
                pass
        fast_forward_follow(env.sim, tenant, broadcast.broadcast_id)
        yield Run(
            env,
            broadcast,
            dispatched,
            planned,
            killer.kills,
            before,
            not_friend,
            over_quota,
            env.sim.stats(env.company.corpid, detail=True),
        )


def planned_sender(env: DemoEnvironment, external_userid: str) -> str:
    with env.sim.lock:
        for message in env.company.mass.messages.values():
            if (message.text or {}).get("content") != TEXT:
                continue
            for userid, records in message.results.items():
                if any(r.receiver == external_userid for r in records):
                    return userid
    raise AssertionError(f"{external_userid} is in no task")


def test_every_tagged_customer_gets_one_task(run: Run) -> None:
    assert run.dispatched.status == Status.FOLLOWING
    assert run.before_follow.duplicates == 0
    assert set(run.before_follow.tasks_per_customer) == set(run.planned)
    assert run.stats["mass_received"]["max_per_receiver"] == 1
    assert run.dispatched.counts["batches_sent"] == run.dispatched.counts["batches"]


def test_minus_one_answers_are_retried(run: Run) -> None:
    assert run.stats["codes"][ADD_MSG_TEMPLATE].get("-1", 0) > 0
    assert run.dispatched.counts["batches_failed"] == 0


def test_lost_responses_are_reconciled_not_sent_again(run: Run) -> None:
    assert run.stats["faults"].get("lost", 0) > 0
    created = run.stats["codes"][ADD_MSG_TEMPLATE]["0"]
    assert created == sum(run.before_follow.tasks_per_sender.values()) == run.dispatched.counts["batches"]


def test_workers_killed_mid_batch_are_resumed_after_the_lease(run: Run) -> None:
    assert sorted(k.point for k in run.kills) == ["called", "claimed"]
    store = BroadcastStore(run.env.tenant.tenant_id)
    for kill in run.kills:
        batch = store.get_batch(kill.broadcast_id, kill.batch_id)
        assert batch.state.status.value == "sent"
        assert batch.state.msgid
        for recipient in store.recipients(kill.broadcast_id, batch):
            assert run.before_follow.tasks_per_customer[recipient] == 1


def test_results_follow_up_records_each_customers_status(run: Run) -> None:
    store = BroadcastStore(run.env.tenant.tenant_id)
    bid = run.broadcast.broadcast_id
    done = store.get(bid)
    results = {r.recipient: r.status for r in store.customer_results(bid, limit=1000).items}
    assert done.status == Status.DONE
    assert results[run.not_friend] == "not_friend"
    assert results[run.over_quota] == "over_quota"
    assert set(results) == set(run.planned)
    assert sum(1 for s in results.values() if s == "sent") == len(run.planned) - 2
    assert (done.counts["sent"], done.counts["not_friend"], done.counts["over_quota"]) == (len(run.planned) - 2, 1, 1)
    assert done.counts["sent"] == run.stats["mass_received"]["receivers"]
