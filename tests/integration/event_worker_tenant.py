"""A tenant onboarded for a simulated WeCom company, and SQS-shaped batches for the event worker (moto in-process)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from chalice.test import Client

from app import app
from chalicelib import resources
from chalicelib.services.welcome import forget_lookups
from chalicelib.store.tenants import invalidate_credentials
from chalicelib.wecom.events import WeComEvent, parse_event
from local.wecom_sim import Company, SimConfig, Simulator
from local.wecom_sim.emitter import Scenario
from local.wecom_sim.events import event_xml
from tests.tenancy import OPS_KEY, PROJECT_DIR, call, create_tenant

TENANT = "evt-corp"


@dataclass
class WeComTenant:
    sim: Simulator
    company: Company
    tenant_id: str
    token: str
    api: Any

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        return call(self.api, method, path, self.token, body)

    def stats(self) -> dict[str, Any]:
        return self.sim.stats(self.company.corpid, detail=True)

    def play(self, scenario: Scenario) -> list[WeComEvent]:
        """The typed events of a finished scenario, as the callback endpoint would have queued them."""
        scenario.wait(10)
        return [
            parse_event(event_xml(self.company.corpid, e.create_time, e.event, e.change_type, list(e.fields.items())))
            for e in scenario.emitted
        ]


SIM_STAGE = "sim"
"""A stage absent from the Chalice config: the test client then keeps the process's WECOM_BASE_URL (the simulator's
ephemeral port) instead of the local stage's fixed one."""


def sim_client() -> Client:
    return Client(app, stage_name=SIM_STAGE, project_dir=PROJECT_DIR)


@pytest.fixture(name="wecom_tenant")
def wecom_tenant_fixture(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[WeComTenant]:
    """A simulator (ephemeral port; transfers settle after 60 simulated s, nobody refuses) with 8 employees, 60
    customers and 10 tags, and tenant `evt-corp` onboarded for its company. Its emitter has no callback URL: scenarios
    change the simulator's state and the tests queue the events themselves."""
    sim = Simulator(SimConfig(seed=41, transfer_delay=60.0, transfer_refuse_share=0.0))
    company = sim.add_company(employees=8, customers=60, tags=10, departments=1)
    monkeypatch.setenv("WECOM_BASE_URL", sim.start(port=0))
    monkeypatch.setenv("OPS_KEY_SHA256", hashlib.sha256(OPS_KEY.encode()).hexdigest())
    api = sim_client().http
    invalidate_credentials(TENANT)
    forget_lookups()
    created = create_tenant(
        api,
        tenant_id=TENANT,
        corp_id=company.corpid,
        agent_id=company.agent_id,
        app_secret=company.secret,
        plan="pro",
        paid_days=30,
    )
    try:
        yield WeComTenant(sim, company, TENANT, created["admin_key"]["token"], api)
    finally:
        invalidate_credentials(TENANT)
        sim.stop()


def sqs_record(event: WeComEvent, tenant_id: str, message_id: str, receive_count: int = 1) -> dict[str, Any]:
    """One SQS record carrying `event` as the callback endpoint queues it."""
    body = {**event.to_message(), "tenant_id": tenant_id, "received_at": int(time.time())}
    return raw_record(json.dumps(body), message_id, receive_count)


def forwarded_records() -> list[dict[str, Any]]:
    """Every message the new-friend path handed on to the events queue, as SQS records (the queue is drained)."""
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=resources.EVENTS.name)["QueueUrl"]
    records = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages", [])
        if not messages:
            return records
        for message in messages:
            records.append(raw_record(message["Body"], message["MessageId"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def raw_record(body: str, message_id: str, receive_count: int = 1) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": f"rh-{message_id}",
        "body": body,
        "attributes": {"ApproximateReceiveCount": str(receive_count)},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
    }
