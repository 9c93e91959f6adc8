"""45009 end to end: the simulator lets one add_msg_template per minute through; the batch WeCom refuses is released
and retried after WeCom's one-minute block (a delayed SQS message, never a sleep), and every customer gets one task.

Takes a little over a minute: the engine waits WeCom's documented block before trying again.
"""

from __future__ import annotations

import pytest

from chalicelib.domain.broadcasts import Status
from chalicelib.services.broadcasts import create_broadcast
from chalicelib.store.broadcasts import BroadcastStore
from local.environment import DemoEnvironment
from local.mass_message import ADD_MSG_TEMPLATE, seed_customers, wait_dispatched, wecom_view
from local.wecom_sim import SimConfig

pytestmark = pytest.mark.e2e

TEXT = "限流 e2e"


def test_a_batch_refused_with_45009_is_retried_after_the_block_and_delivered_once() -> None:
    config = SimConfig(seed=3, corp_api_per_minute=1, dispatch_seconds=0, confirm_delay=600)
    with DemoEnvironment(employees=2, customers=40, sim_config=config, access_log=False) as env:
        assert env.tenant is not None
        tenant = env.tenant.tenant_id
        seed_customers(tenant, env.company)
        # Start early in a simulated minute, so both batches fall in one window and one of them must be refused.
        env.sim.clock.advance(60 - env.sim.clock.now() % 60 + 1)
        broadcast = create_broadcast(
            tenant, content={"text": {"content": TEXT}}, audience={"all_customers": True}, start=True
        )
        dispatched = wait_dispatched(tenant, broadcast.broadcast_id, timeout=150)

        stats = env.sim.stats(env.company.corpid)
        assert stats["codes"][ADD_MSG_TEMPLATE]["45009"] >= 1
        assert stats["codes"][ADD_MSG_TEMPLATE]["0"] == dispatched.counts["batches"] == 2
        assert dispatched.status == Status.FOLLOWING
        store = BroadcastStore(tenant)
        batches = store.batches(broadcast.broadcast_id).items
        assert all(b.state.status.value == "sent" for b in batches)
        assert max(b.state.attempts for b in batches) >= 2
        view = wecom_view(env.sim, env.company, TEXT)
        planned = {r for b in batches for r in store.recipients(broadcast.broadcast_id, b)}
        assert set(view.tasks_per_customer) == planned
        assert view.duplicates == 0
