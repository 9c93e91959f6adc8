"""A mass message or moment scheduled while the tenant was in good standing is not sent once the tenant is suspended
or its subscription has ended: the schedule cancels it with the reason (never sending it late after a renewal), and
starts it as usual for a tenant in good standing."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest

from chalicelib import resources
from chalicelib.services import moments
from chalicelib.store.broadcasts import BroadcastStore
from chalicelib.store.tenants import update_tenant
from chalicelib.workers.schedule import run_schedule
from local.wecom_sim import SimConfig
from tests.tenancy import SimTenant, call

pytestmark = pytest.mark.filterwarnings("ignore:IAMAuthorizer is not a supported in local mode")


@pytest.fixture
def corp(sim_tenant_factory: Any) -> SimTenant:
    return sim_tenant_factory("standing-corp", config=SimConfig(seed=5), employees=4, customers=20, tags=2)


def queued_plans() -> int:
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=resources.PLAN.name)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def schedule(corp: SimTenant, send_at: int) -> str:
    body = {"text": "周末活动", "audience": {"all_customers": True}, "send_at": send_at}
    created = call(corp.api, "POST", "/v1/broadcasts", corp.token, body)
    assert created.status_code == 201, created.body
    broadcast = created.json_body["broadcast"]
    assert broadcast["status"] == "scheduled"
    return broadcast["broadcast_id"]


def status_of(corp: SimTenant, broadcast_id: str) -> tuple[str, str]:
    """(status, reason) as stored (an admin of a suspended tenant is refused at the API)."""
    broadcast = BroadcastStore(corp.tenant_id).get(broadcast_id)
    assert broadcast is not None
    return broadcast.status, broadcast.reason


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"status": "suspended"}, "not sent: the tenant was suspended at its send time"),
        ({"expires_at": 0}, "not sent: the tenant's subscription had ended at its send time"),
    ],
)
def test_a_scheduled_broadcast_of_a_tenant_no_longer_in_good_standing_is_cancelled_with_the_reason(
    corp: SimTenant, change: dict[str, Any], reason: str
) -> None:
    now = int(time.time())
    broadcast_id = schedule(corp, now + 3600)
    update_tenant(corp.tenant_id, now, **({"expires_at": now + 1800} if "expires_at" in change else change))
    assert run_schedule(now=now + 3601)["start"] == 1
    assert status_of(corp, broadcast_id) == ("cancelled", reason)
    assert queued_plans() == 0
    update_tenant(corp.tenant_id, now, status="active", expires_at=now + 86_400 * 30)
    assert run_schedule(now=now + 3700)["start"] == 0  # renewed later: nothing left to send late
    assert status_of(corp, broadcast_id) == ("cancelled", reason)


def test_a_scheduled_broadcast_of_a_tenant_in_good_standing_starts(corp: SimTenant) -> None:
    now = int(time.time())
    broadcast_id = schedule(corp, now + 3600)
    assert run_schedule(now=now + 3601)["start"] == 1
    assert status_of(corp, broadcast_id)[0] == "planning"
    assert queued_plans() == 1


def test_a_scheduled_moment_of_a_suspended_tenant_is_cancelled_and_never_reaches_wecom(corp: SimTenant) -> None:
    now = int(corp.sim.clock.now())
    body = {"text": "新品预告", "userids": sorted(corp.company.employees)[:2], "scheduled_at": now + 3600}
    created = corp.admin("POST", "/v1/moments", body)
    assert created.status_code == 201, created.body
    task_id = created.json_body["moment"]["moment_task_id"]
    update_tenant(corp.tenant_id, now, status="suspended")
    moments.run_timer(corp.tenant_id, task_id, moments.MOMENT_START, now=now + 3601)
    update_tenant(corp.tenant_id, now, status="active")
    task = corp.admin("GET", f"/v1/moments/{task_id}").json_body["moment"]
    assert (task["status"], task["error"]) == ("cancelled", "not sent: the tenant was suspended at its send time")
    assert corp.stats()["calls"].get("externalcontact/add_moment_task", 0) == 0
