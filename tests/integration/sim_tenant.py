"""A tenant onboarded for a simulated WeCom company, and a sync queue drained in-process (for sync and admin tests)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from chalicelib import resources
from chalicelib.store.tenants import invalidate_credentials
from chalicelib.workers import sync as sync_worker
from local.wecom_sim import Company, SimConfig, Simulator
from tests.tenancy import create_tenant


@dataclass
class SimTenant:
    """The simulator, its company, the tenant made for it and that tenant's admin token."""

    sim: Simulator
    company: Company
    tenant_id: str
    token: str
    settings: Any


@pytest.fixture(name="sim_tenant")
def sim_tenant_fixture(api: Any, aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[SimTenant]:
    """A simulator on an ephemeral port with 12 employees, 300 customers and 20 tags; tenant `sim-corp` for it.

    The test client applies the stage's environment (.chalice/config.json) during each request, so the simulator's
    URL replaces the stage's WECOM_BASE_URL there too."""
    sim = Simulator(SimConfig(seed=23))
    company = sim.add_company(employees=12, customers=300, tags=20)
    wecom_url = sim.start(port=0)
    monkeypatch.setenv("WECOM_BASE_URL", wecom_url)
    stage_environment = api._config._config_from_disk["stages"]["local"]["environment_variables"]
    monkeypatch.setitem(stage_environment, "WECOM_BASE_URL", wecom_url)
    invalidate_credentials("sim-corp")
    created = create_tenant(
        api,
        tenant_id="sim-corp",
        corp_id=company.corpid,
        agent_id=company.agent_id,
        app_secret=company.secret,
        plan="pro",
        paid_days=30,
    )
    try:
        yield SimTenant(sim, company, "sim-corp", created["admin_key"]["token"], aws)
    finally:
        invalidate_credentials("sim-corp")
        sim.stop()


class Budget:
    """A Lambda context's remaining time: `ms` milliseconds from its creation (a real-time countdown)."""

    def __init__(self, ms: float) -> None:
        self.deadline = time.monotonic() + ms / 1000

    def __call__(self) -> int:
        return int((self.deadline - time.monotonic()) * 1000)


def drain_sync_queue(
    budget_ms: Callable[[], float], clock: Callable[[], float] = time.time, max_invocations: int = 500
) -> int:
    """Receive and handle sync messages until the queue is empty; each invocation gets `budget_ms()` of time and
    reads the time from `clock`. Returns the number of invocations."""
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=resources.SYNC.name)["QueueUrl"]
    for invocation in range(max_invocations):
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1).get("Messages", [])
        if not got:
            return invocation
        record = {"messageId": got[0]["MessageId"], "body": got[0]["Body"]}
        result = sync_worker.handle_sync_event({"Records": [record]}, Budget(budget_ms()), clock)
        assert result == {"batchItemFailures": []}, json.loads(got[0]["Body"])
        sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
    raise AssertionError("the sync queue did not drain")
