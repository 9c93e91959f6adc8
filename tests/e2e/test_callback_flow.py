"""Callbacks end to end on the local stack: the simulator's emitter signs and POSTs, the pump drives the workers.

Covers a welcome message sent within WeCom's 20 s window (as the simulator timed it), one effect for a callback
delivered twice, an older callback delivered after a newer one, and the lost-customer alert reaching the employee.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from chalicelib import resources
from chalicelib.store.customers import CustomerStore
from local.environment import DemoEnvironment
from local.wecom_sim.events import event_xml, sealed

pytestmark = pytest.mark.e2e

WAIT_SECONDS = 20.0
EVENT_HANDLER = "on_wecom_event"


@pytest.fixture(scope="module")
def env() -> Iterator[DemoEnvironment]:
    with DemoEnvironment(employees=10, customers=100) as environment:
        yield environment


def wait_for(condition: Callable[[], bool], seconds: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.1)


def event_worker_seconds(env: DemoEnvironment) -> float:
    """How long the events queue's worker may take to apply an event, by the stack's own settings.

    That worker is a bulk function (no provisioned concurrency; the local stack runs it at a lower CPU priority).
    On a loaded machine its invocation can run past the function's timeout and be killed; the batch then comes back
    after the queue's visibility timeout (the claims the killed invocation took lapsed with it). A wait on that
    worker is bounded by this, not by the welcome path's 20 s.
    """
    timeout = env.stack.pump.limits(EVENT_HANDLER).timeout_seconds
    return timeout + resources.EVENTS.visibility_timeout + WAIT_SECONDS


def events_queue_drained(env: DemoEnvironment) -> bool:
    """No event waiting on or being applied from the events queue: every delivery has been applied or skipped."""
    sqs = env.stack.client("sqs")
    url = sqs.get_queue_url(QueueName=env.stack.settings.queue(resources.EVENTS))["QueueUrl"]
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return all(int(counts.get(name, 0)) == 0 for name in names)


def post_callback(env: DemoEnvironment, create_time: int, change_type: str, fields: list) -> None:
    """POST one signed contact event to the tenant's callback URL, as WeCom would."""
    plaintext = event_xml(env.company.corpid, create_time, "change_external_contact", change_type, fields)
    query, body = sealed(env.company, plaintext, int(time.time()))
    response = httpx.post(f"{env.company.callback_url}?{query}", content=body, headers={"Content-Type": "text/xml"})
    assert response.status_code == 200


def new_friends(env: DemoEnvironment, n: int) -> list[tuple[str, str, int]]:
    """n new friends through a channel with a welcome message; (userid, external_userid, create_time) each."""
    with env.admin() as admin:
        created = admin.post("/v1/channels", json={"name": "e2e", "userids": ["emp00001"], "welcome_text": "欢迎"})
    assert created.status_code == 201, created.text
    before = env.sim.stats(env.company.corpid)["welcome"]["delivered"]
    scenario = env.sim.emitter(env.company).new_friends(n, state=created.json()["channel"]["state"]).wait(30)
    wait_for(lambda: env.sim.stats(env.company.corpid)["welcome"]["delivered"] == before + n)
    return [(e.fields["UserID"], e.fields["ExternalUserID"], e.create_time) for e in scenario.emitted]


def test_new_friends_get_their_welcome_within_the_window(env):
    new_friends(env, 5)
    stats = env.sim.stats(env.company.corpid, detail=True)
    assert stats["welcome"]["delay_max"] < 20
    assert stats["codes"]["externalcontact/send_welcome_msg"] == {"0": stats["welcome"]["delivered"]}


def test_a_callback_delivered_twice_alerts_once_and_an_older_one_does_not_undo_the_loss(env):
    ((userid, external_userid, added_at),) = new_friends(env, 1)
    store = CustomerStore(env.tenant.tenant_id)
    bound = event_worker_seconds(env)
    wait_for(lambda: any(r.active for r in store.get_follows(external_userid)), bound)
    wait_for(lambda: events_queue_drained(env), bound)
    alerts_before = env.sim.stats(env.company.corpid)["app_messages"]["delivered"]

    relation = [("UserID", userid), ("ExternalUserID", external_userid)]
    for _ in range(2):
        post_callback(env, added_at + 10, "del_follow_user", relation)
    wait_for(lambda: not store.get_follows(external_userid)[0].active, bound)
    post_callback(env, added_at + 5, "edit_external_contact", relation)

    wait_for(lambda: env.sim.stats(env.company.corpid)["app_messages"]["delivered"] > alerts_before, bound)
    # Both deliveries of the deletion and the older edit applied or skipped: nothing left that could alert again or
    # undo the loss.
    wait_for(lambda: events_queue_drained(env), bound)
    assert env.sim.stats(env.company.corpid)["app_messages"]["delivered"] == alerts_before + 1
    (stored,) = store.get_follows(external_userid)
    assert not stored.active
    assert stored.lost_at == added_at + 10
