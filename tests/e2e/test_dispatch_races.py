"""The batch state machine under concurrent claims: many dispatch workers race for every batch of one broadcast at
once, beside the pump's own, while WeCom answers -1 and loses responses. Each batch is created at WeCom exactly once.

On the local stack because its moto server applies conditional writes atomically (in-process moto does not, see
`local.aws.SerialDynamoDB`), so the race is decided the way DynamoDB decides it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from chalicelib.domain.broadcasts import Status
from chalicelib.services.broadcasts import create_broadcast, start_broadcast
from chalicelib.services.dispatch import Dispatcher
from chalicelib.store.broadcasts import BroadcastStore
from local.environment import DemoEnvironment
from local.mass_message import ADD_MSG_TEMPLATE, seed_customers, tag_share, wait_dispatched, wecom_view
from local.wecom_sim import SimConfig

pytestmark = pytest.mark.e2e

TEXT = "并发认领 e2e"
RACERS = 8
LEASE_SECONDS = 3.0
CONFIG = SimConfig(
    seed=23,
    fault_error_share=0.2,
    fault_lost_share=0.2,
    fault_paths=frozenset({ADD_MSG_TEMPLATE}),
    confirm_delay=600,
    dispatch_seconds=1,
)


def test_racing_workers_create_each_batch_once() -> None:
    with DemoEnvironment(
        employees=16,
        customers=240,
        sim_config=CONFIG,
        environment={"WECOM_TIMEOUT_SECONDS": "2"},
        access_log=False,
    ) as env:
        assert env.tenant is not None
        tenant = env.tenant.tenant_id
        tag, _ = tag_share(env.sim, env.company, 0.7)
        seed_customers(tenant, env.company)
        broadcast = create_broadcast(tenant, content={"text": {"content": TEXT}}, audience={"tags": [tag]})
        bid = broadcast.broadcast_id
        store = BroadcastStore(tenant)
        outcomes: Counter[str] = Counter()
        lock = threading.Lock()
        start = threading.Barrier(RACERS + 1)
        deadline = time.monotonic() + 180

        def race() -> None:
            start.wait()
            while time.monotonic() < deadline:
                current = store.get(bid)
                if current is None or current.status not in (Status.DRAFT, Status.PLANNING, Status.DISPATCHING):
                    return
                for batch in store.batches(bid).items:
                    if batch.state.status.value in ("sent", "failed", "cancelled"):
                        continue
                    outcome = Dispatcher(tenant, lease_seconds=LEASE_SECONDS).handle(bid, batch.batch_id)
                    with lock:
                        outcomes[outcome.result.split(":")[0]] += 1
                time.sleep(0.05)

        racers = [threading.Thread(target=race, daemon=True) for _ in range(RACERS)]
        for racer in racers:
            racer.start()
        start.wait()
        start_broadcast(tenant, bid)
        for racer in racers:
            racer.join(timeout=200)

        done = wait_dispatched(tenant, bid, timeout=60)
        batches = store.batches(bid).items
        planned = {r for b in batches for r in store.recipients(bid, b)}
        view = wecom_view(env.sim, env.company, TEXT)
        created = env.sim.stats(env.company.corpid)["codes"][ADD_MSG_TEMPLATE]
        assert done.status == Status.FOLLOWING
        assert len(batches) == done.counts["batches"] > 8
        assert all(b.state.status.value == "sent" for b in batches)
        assert len({b.state.msgid for b in batches}) == len(batches)
        assert created["0"] == len(batches)
        assert view.duplicates == 0
        assert set(view.tasks_per_customer) == planned
        assert outcomes["moved"] + outcomes["leased"] > 0
