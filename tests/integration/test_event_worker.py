"""The WeCom event worker on moto with the simulator as WeCom: new friends, welcome, dedupe, order, lost customers,
tags, groups, departures and transfers, partial batch failure."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import replace

import boto3
import pytest

from chalicelib import resources
from chalicelib.services import relations, sync, transfers
from chalicelib.store.channels import ChannelStore
from chalicelib.store.customers import CustomerStore
from chalicelib.store.event_log import ClaimState, EventLog
from chalicelib.store.groups import DISMISSED, GroupStore
from chalicelib.store.transfers import RESIGNED, TransferPair, TransferStore
from chalicelib.wecom.errors import RateLimited
from chalicelib.wecom.events import ExternalContactEvent, UnknownEvent
from chalicelib.workers.events import BUSY_RECHECK_SECONDS, EventWorker, RealtimeWorker
from local.wecom_sim.config import SimConfig
from tests.integration.event_records import forwarded_records, raw_record, sqs_record
from tests.integration.sync_queue import drain_sync_queue
from tests.tenancy import SimTenant

pytestmark = pytest.mark.filterwarnings("ignore:IAMAuthorizer is not a supported in local mode")

WELCOME = "欢迎！这是我们的门店福利。"


def run(tenant: SimTenant, events, queue=resources.EVENTS_REALTIME) -> dict:
    """Events through their queue's worker; the new-friend path's output then through the events worker."""
    records = [sqs_record(e, tenant.tenant_id, f"m-{uuid.uuid4().hex[:8]}") for e in events]
    if queue is resources.EVENTS:
        return EventWorker(queue).run(records)
    first = RealtimeWorker().run(records)["batchItemFailures"]
    then = EventWorker(resources.EVENTS).run(forwarded_records())["batchItemFailures"]
    return {"batchItemFailures": first + then}


def make_channel(tenant: SimTenant, userid: str = "emp00001", **extra) -> dict:
    tag_id = sorted(tenant.company.tags.tags)[0]
    body = {"name": "门店A", "userids": [userid], "auto_tag_ids": [tag_id], "welcome_text": WELCOME, **extra}
    response = tenant.admin("POST", "/v1/channels", body)
    assert response.status_code == 201, response.body
    return response.json_body["channel"]


def test_new_friend_gets_the_channel_welcome_its_auto_tags_and_counts_for_the_channel(wecom_tenant):
    channel = make_channel(wecom_tenant)
    emitter = wecom_tenant.sim.emitter(wecom_tenant.company)
    (event,) = wecom_tenant.play(emitter.new_friends(1, state=channel["state"]))
    assert isinstance(event, ExternalContactEvent)
    assert event.welcome_code

    assert run(wecom_tenant, [event]) == {"batchItemFailures": []}

    stats = wecom_tenant.stats()
    assert stats["welcome"]["delivered"] == 1
    assert stats["welcome"]["delay_max"] < 20
    follow = wecom_tenant.company.book.follow(event.user_id, event.external_user_id)
    assert channel["auto_tag_ids"][0] in follow.tag_ids
    (stored,) = CustomerStore(wecom_tenant.tenant_id).get_follows(event.external_user_id)
    assert stored.active
    assert stored.state == channel["state"]
    assert set(channel["auto_tag_ids"]) <= stored.tag_ids
    figures = wecom_tenant.admin("GET", f"/v1/channels/{channel['channel_id']}").json_body["channel"]["figures"]
    assert figures == {"friends_added": 1, "friends_lost": 0, "still_friends": 1}


def test_the_same_event_delivered_twice_has_one_effect(wecom_tenant):
    channel = make_channel(wecom_tenant)
    (event,) = wecom_tenant.play(wecom_tenant.sim.emitter(wecom_tenant.company).new_friends(1, state=channel["state"]))
    records = [sqs_record(event, wecom_tenant.tenant_id, m) for m in ("first", "again")]
    assert RealtimeWorker().run(records) == {"batchItemFailures": []}
    forwarded = forwarded_records()
    worker = EventWorker(resources.EVENTS)
    assert worker.run(forwarded) == {"batchItemFailures": []}  # the second is claimed after the first is done
    assert worker.run(forwarded[1:]) == {"batchItemFailures": []}
    assert run(wecom_tenant, [event]) == {"batchItemFailures": []}
    stats = wecom_tenant.stats()
    assert stats["welcome"]["delivered"] == 1
    assert stats["codes"]["externalcontact/send_welcome_msg"] == {"0": 1, "41051": 2}
    assert stats["calls"]["externalcontact/get"] == 1
    figures = ChannelStore(wecom_tenant.tenant_id).get(channel["channel_id"]).friends_added
    assert figures == 1


def test_an_older_event_never_overwrites_newer_data_and_a_lost_customer_alerts_the_employee(wecom_tenant):
    channel = make_channel(wecom_tenant)
    emitter = wecom_tenant.sim.emitter(wecom_tenant.company)
    (added,) = wecom_tenant.play(emitter.new_friends(1, state=channel["state"]))
    assert run(wecom_tenant, [added]) == {"batchItemFailures": []}
    (deleted,) = wecom_tenant.play(emitter.customer_deleted_employee(added.external_user_id, added.user_id))
    deleted = replace(deleted, create_time=added.create_time + 10)
    edited = ExternalContactEvent(
        corp_id=added.corp_id,
        create_time=added.create_time + 5,
        event=added.event,
        change_type="edit_external_contact",
        user_id=added.user_id,
        external_user_id=added.external_user_id,
    )

    assert run(wecom_tenant, [deleted], resources.EVENTS) == {"batchItemFailures": []}
    assert run(wecom_tenant, [edited], resources.EVENTS) == {"batchItemFailures": []}

    (stored,) = CustomerStore(wecom_tenant.tenant_id).get_follows(added.external_user_id)
    assert not stored.active
    assert (stored.lost_at, stored.lost_by) == (deleted.create_time, relations.LOST_BY_CUSTOMER)
    assert wecom_tenant.stats()["app_messages"]["delivered"] == 1
    figures = ChannelStore(wecom_tenant.tenant_id).get(channel["channel_id"])
    assert (figures.friends_added, figures.friends_lost) == (1, 1)


def test_unknown_and_transfer_fail_events_are_recorded_not_dropped(wecom_tenant):
    unknown = UnknownEvent(corp_id=wecom_tenant.company.corpid, create_time=1, event="odd", change_type="thing")
    failed = ExternalContactEvent(
        corp_id=wecom_tenant.company.corpid,
        create_time=2,
        event="change_external_contact",
        change_type="transfer_fail",
        user_id="emp00002",
        external_user_id="wmX",
        fail_reason="customer_refused",
    )
    assert run(wecom_tenant, [unknown, failed], resources.EVENTS) == {"batchItemFailures": []}
    recorded = {e.kind: e for e in EventLog(wecom_tenant.tenant_id).recorded()}
    assert set(recorded) == {"odd/thing", "change_external_contact/transfer_fail"}
    assert "customer_refused" in recorded["change_external_contact/transfer_fail"].detail


def test_one_bad_record_does_not_fail_the_batch_and_a_throttled_one_comes_back(wecom_tenant, monkeypatch):
    channel = make_channel(wecom_tenant)
    emitter = wecom_tenant.sim.emitter(wecom_tenant.company)
    good, throttled = wecom_tenant.play(emitter.new_friends(2, state=channel["state"]))

    real_fetch = relations.fetch_customer

    def fetch(ctx, external_userid, userid, event_time):
        if external_userid == throttled.external_user_id:
            raise RateLimited(45009, "api freq out of limit", "externalcontact/get")
        return real_fetch(ctx, external_userid, userid, event_time)

    monkeypatch.setattr("chalicelib.services.welcome.fetch_customer", fetch)
    with wecom_tenant.client as client:
        bodies = [json.dumps({**e.to_message(), "tenant_id": wecom_tenant.tenant_id}) for e in (good, throttled)]
        sqs_event = client.events.generate_sqs_event(
            message_bodies=[*bodies, "not json"], queue_name=resources.EVENTS_REALTIME.name
        )
        for index, record in enumerate(sqs_event["Records"]):
            record["messageId"] = f"msg-{index}"
        welcomed = client.lambda_.invoke("on_wecom_new_friend", sqs_event).payload
        assert welcomed == {"batchItemFailures": [{"itemIdentifier": "msg-2"}]}
        assert wecom_tenant.stats()["welcome"]["delivered"] == 2
        forwarded = [json.loads(r["body"]) for r in forwarded_records()]
        assert [m["welcome"] for m in forwarded] == ["sent", "sent"]
        forwarded.sort(key=lambda m: m["event"]["external_user_id"] != throttled.external_user_id)
        sqs_event = client.events.generate_sqs_event(
            message_bodies=[json.dumps(m) for m in forwarded] + ["{}"], queue_name=resources.EVENTS.name
        )
        for index, record in enumerate(sqs_event["Records"]):
            record["messageId"] = f"msg-{index}"
        answer = client.lambda_.invoke("on_wecom_event", sqs_event).payload
    assert answer == {"batchItemFailures": [{"itemIdentifier": "msg-2"}, {"itemIdentifier": "msg-0"}]}
    # Chalice's test invocations have 3 s to run: the good event had no time after the throttled one and was queued
    # again as it was, not failed
    (deferred,) = forwarded_records()
    assert json.loads(deferred["body"])["event"]["external_user_id"] == good.external_user_id
    assert EventWorker(resources.EVENTS).run([deferred]) == {"batchItemFailures": []}

    monkeypatch.setattr("chalicelib.services.welcome.fetch_customer", real_fetch)
    assert run(wecom_tenant, [throttled], resources.EVENTS) == {"batchItemFailures": []}
    assert CustomerStore(wecom_tenant.tenant_id).get_follows(throttled.external_user_id)[0].active
    assert wecom_tenant.stats()["welcome"]["delivered"] == 2


def test_tag_and_group_events_keep_the_catalogue_and_chats_in_sync(wecom_tenant):
    emitter = wecom_tenant.sim.emitter(wecom_tenant.company)
    created = wecom_tenant.play(emitter.tag_created("渠道标签", ["门店", "线上"]))
    assert run(wecom_tenant, created, resources.EVENTS) == {"batchItemFailures": []}
    names = {t.name for t in CustomerStore(wecom_tenant.tenant_id).list_tags()}
    assert {"门店", "线上"} <= names
    (deleted,) = wecom_tenant.play(emitter.tag_deleted(created[0].tag_id))
    assert run(wecom_tenant, [deleted], resources.EVENTS) == {"batchItemFailures": []}
    assert created[0].tag_id not in {t.tag_id for t in CustomerStore(wecom_tenant.tenant_id).list_tags()}

    (group,) = wecom_tenant.play(emitter.group_created("emp00001", customers=3))
    (joined,) = wecom_tenant.play(emitter.group_members_joined(group.chat_id, customers=2))
    assert run(wecom_tenant, [joined, group], resources.EVENTS) == {"batchItemFailures": []}
    groups = GroupStore(wecom_tenant.tenant_id)
    assert groups.get_chat(group.chat_id).member_count == len(wecom_tenant.company.chats[group.chat_id].members)
    assert group.chat_id in groups.chats_owned_by("emp00001")
    (dismissed,) = wecom_tenant.play(emitter.group_dismissed(group.chat_id))
    assert run(wecom_tenant, [dismissed], resources.EVENTS) == {"batchItemFailures": []}
    assert groups.get_chat(group.chat_id).status == DISMISSED
    assert groups.members(group.chat_id) == []


def test_a_departed_employees_customers_go_to_the_named_successor_and_settle(wecom_tenant):
    company = wecom_tenant.company
    leaver = max(company.employees, key=lambda u: len(company.book.follows_of_user(u)))
    successor = next(u for u in sorted(company.employees) if u != leaver)
    policy = {"successor_rule": "named", "named_successor": successor}
    assert wecom_tenant.admin("PUT", "/v1/lifecycle-policy", policy).status_code == 200
    customers = sorted(f.external_userid for f in company.book.follows_of_user(leaver))

    (left,) = wecom_tenant.play(wecom_tenant.sim.emitter(company).employee_left(leaver))
    assert run(wecom_tenant, [left], resources.EVENTS) == {"batchItemFailures": []}

    pair = TransferPair(wecom_tenant.tenant_id, RESIGNED, leaver, successor)
    store = TransferStore(wecom_tenant.tenant_id)
    assert sorted(c.external_userid for c in store.customers(pair)) == customers
    assert {c.status.value for c in store.customers(pair)} == {"waiting"}
    employees = {e.userid: e for e in CustomerStore(wecom_tenant.tenant_id).list_employees()}
    assert not employees[leaver].active

    later = int(wecom_tenant.sim.clock.advance(120))
    assert transfers.poll_due_transfers(now=later + transfers.POLL_INTERVAL_SECONDS) == 1
    assert {c.status.value for c in store.customers(pair)} == {"done"}
    assert transfers.poll_due_transfers(now=later + 10 * transfers.POLL_INTERVAL_SECONDS) == 0
    assert all(company.book.follow(successor, c) is not None for c in customers)


def test_the_department_manager_of_the_main_department_inherits(sim_tenant_factory):
    """user/list gives each member a main department (not always the first listed) and its leaders: the
    `department_manager` rule hands the customers to the leader of the leaver's main department."""
    tenant = sim_tenant_factory(
        "mgr-corp", config=SimConfig(seed=7, transfer_delay=60.0), employees=16, customers=120, departments=3
    )
    company = tenant.company
    leaders = {d: u for u, e in company.employees.items() for d in e.leader_in}
    leaver = next(
        u
        for u, e in sorted(company.employees.items())
        if len(e.departments) > 1
        and e.main != e.departments[0]
        and leaders.get(e.main, u) != u
        and company.book.follows_of_user(u)
    )
    manager = leaders[company.employees[leaver].main]
    assert tenant.admin("PUT", "/v1/lifecycle-policy", {"successor_rule": "department_manager"}).status_code == 200
    customers = sorted(f.external_userid for f in company.book.follows_of_user(leaver))
    sync.request_sync(tenant.tenant_id, "test")
    drain_sync_queue(lambda: 60_000)

    (left,) = tenant.play(tenant.sim.emitter(company).employee_left(leaver))
    assert run(tenant, [left], resources.EVENTS) == {"batchItemFailures": []}

    pair = TransferPair(tenant.tenant_id, RESIGNED, leaver, manager)
    assert sorted(c.external_userid for c in TransferStore(tenant.tenant_id).customers(pair)) == customers
    stored = {e.userid: e for e in CustomerStore(tenant.tenant_id).list_employees()}
    assert stored[leaver].main_department == company.employees[leaver].main != stored[leaver].department_ids[0]
    assert company.employees[leaver].main in stored[manager].leader_in_departments


def test_records_an_invocation_has_no_time_for_go_back_to_the_queue_at_once_not_as_failures(wecom_tenant):
    channel = make_channel(wecom_tenant)
    events = wecom_tenant.play(wecom_tenant.sim.emitter(wecom_tenant.company).new_friends(3, state=channel["state"]))
    records = [sqs_record(e, wecom_tenant.tenant_id, f"m{i}") for i, e in enumerate(events)]
    assert RealtimeWorker().run(records) == {"batchItemFailures": []}
    forwarded = forwarded_records()
    time_left = iter([25.0, 3.0])  # the claim of the first event, then the check before the second

    worker = EventWorker(resources.EVENTS, remaining=lambda: next(time_left))
    assert worker.run(forwarded) == {"batchItemFailures": []}

    customers = CustomerStore(wecom_tenant.tenant_id)
    assert [bool(customers.get_follows(e.external_user_id)) for e in events] == [True, False, False]
    again = forwarded_records()
    assert sorted(json.loads(r["body"])["event"]["external_user_id"] for r in again) == sorted(
        e.external_user_id for e in events[1:]
    )
    assert all(json.loads(r["body"])["welcome"] == "sent" for r in again)
    assert EventWorker(resources.EVENTS).run(again) == {"batchItemFailures": []}
    assert all(customers.get_follows(e.external_user_id) for e in events)
    figures = ChannelStore(wecom_tenant.tenant_id).get(channel["channel_id"]).friends_added
    assert figures == 3


class Killed(BaseException):
    """Lambda ending an invocation at its deadline: nothing after it runs, not even the claim's release."""


def test_a_killed_invocations_claim_lapses_with_its_deadline_not_the_visibility_timeout(wecom_tenant, monkeypatch):
    (event,) = wecom_tenant.play(wecom_tenant.sim.emitter(wecom_tenant.company).new_friends(1))
    record = sqs_record(event, wecom_tenant.tenant_id, "m-killed")
    started = 1_900_000_000.0

    def killed(ctx, event):
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr("chalicelib.workers.events.apply_event", killed)
        with pytest.raises(Killed):
            EventWorker(resources.EVENTS, clock=lambda: started, remaining=lambda: 20.0).run([record])

    still_held = EventWorker(resources.EVENTS, clock=lambda: started + 19.0).run([record])
    assert still_held == {"batchItemFailures": []}  # queued again for a later look
    assert not CustomerStore(wecom_tenant.tenant_id).get_follows(event.external_user_id)
    assert resources.EVENTS.visibility_timeout > 21
    assert EventWorker(resources.EVENTS, clock=lambda: started + 21.0).run([record]) == {"batchItemFailures": []}
    assert CustomerStore(wecom_tenant.tenant_id).get_follows(event.external_user_id)


def test_an_event_another_worker_is_applying_is_looked_at_again_in_seconds_not_after_the_visibility_timeout(
    wecom_tenant,
):
    (event,) = wecom_tenant.play(wecom_tenant.sim.emitter(wecom_tenant.company).new_friends(1))
    record = sqs_record(event, wecom_tenant.tenant_id, "m-busy")
    log = EventLog(wecom_tenant.tenant_id)
    assert log.claim(event.dedupe_key, "another-worker", time.time(), 25.0) is ClaimState.CLAIMED

    assert EventWorker(resources.EVENTS).run([record]) == {"batchItemFailures": []}
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=resources.EVENTS.name)["QueueUrl"]
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessagesDelayed"] == "1"
    assert resources.EVENTS.visibility_timeout > BUSY_RECHECK_SECONDS

    log.done(event.dedupe_key, "another-worker", time.time())
    (again,) = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=BUSY_RECHECK_SECONDS + 2)["Messages"]
    assert json.loads(again["Body"])["event"] == json.loads(record["body"])["event"]
    assert EventWorker(resources.EVENTS).run([raw_record(again["Body"], "m-again")]) == {"batchItemFailures": []}
    assert not CustomerStore(wecom_tenant.tenant_id).get_follows(event.external_user_id)  # skipped: done elsewhere
