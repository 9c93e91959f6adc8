"""The full sync against moto and the WeCom simulator: everything loaded, resumable, reconciled, departed marked."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import boto3
import pytest

from chalicelib import resources
from chalicelib.domain.audience import ALL_CUSTOMERS_TAG, AudienceSource, SourceKind
from chalicelib.services import sync
from chalicelib.store.customer_directory import NAME, CustomerDirectory
from chalicelib.store.customers import CustomerStore
from chalicelib.store.sync_runs import DONE, SyncRunning, SyncRuns
from chalicelib.wecom.events import WeComEvent
from chalicelib.workers.sync import handle_message
from tests.integration.sync_queue import drain_sync_queue
from tests.tenancy import call

pytestmark = pytest.mark.filterwarnings("ignore:IAMAuthorizer is not a supported in local mode")

LONG = 600_000.0


def wecom_relations(company):
    return {
        (f.external_userid, f.userid): f
        for userid, employee in company.employees.items()
        if employee.active and employee.customer_contact
        for f in company.book.follows_of_user(userid)
    }


def stored_relations(tenant_id):
    store = CustomerStore(tenant_id)
    rows = []
    for page in store.audience_pages(AudienceSource(SourceKind.ALL, (ALL_CUSTOMERS_TAG,)), page_size=500):
        rows.extend((r.external_userid, r.userid) for r in page.rows)
    return rows


def test_full_sync_loads_directory_tags_and_every_customer(sim_tenant):
    run = sync.request_sync(sim_tenant.tenant_id, "test")
    drain_sync_queue(lambda: LONG)
    company = sim_tenant.company
    expected = wecom_relations(company)
    rows = stored_relations(sim_tenant.tenant_id)
    assert len(rows) == len(set(rows)) == len(expected)
    assert set(rows) == set(expected)
    store = CustomerStore(sim_tenant.tenant_id)
    ext, userid = next(iter(expected))
    follow = expected[(ext, userid)]
    stored = {r.userid: r for r in store.get_follows(ext)}[userid]
    assert (stored.createtime, stored.tag_ids, stored.state, stored.remark) == (
        follow.createtime,
        frozenset(follow.tag_ids),
        follow.state,
        follow.remark,
    )
    assert store.get_profile(ext).name == company.book.customers[ext].name
    assert {e.userid for e in store.list_employees()} == set(company.employees)
    assert {d.id for d in store.list_departments()} == set(company.departments)
    assert {t.tag_id for t in store.list_tags()} == set(company.tags.tags)
    status = SyncRuns(sim_tenant.tenant_id).current()
    assert status.run_id == run.run_id
    assert status.status == DONE
    assert status.counts["customers"] >= len({e for e, _ in expected})
    assert status.counts["relations"] == len(expected)
    assert status.counts["follow_users"] == len(company.employees)
    name = company.book.customers[ext].name
    found = CustomerDirectory(sim_tenant.tenant_id).search(NAME, name[:2], 100, None).items
    assert (ext, userid) in found


def test_a_sync_cut_short_by_its_time_budget_continues_to_the_same_data(sim_tenant, monkeypatch):
    monkeypatch.setattr(sync.rules, "RESERVE_MS", 0)
    sync.request_sync(sim_tenant.tenant_id, "test")
    invocations = drain_sync_queue(lambda: 150.0)
    assert invocations > 3
    rows = stored_relations(sim_tenant.tenant_id)
    assert len(rows) == len(set(rows))
    assert set(rows) == set(wecom_relations(sim_tenant.company))
    status = SyncRuns(sim_tenant.tenant_id).current()
    assert status.status == DONE
    assert status.counts["invocations"] == invocations
    assert status.counts["lost"] == 0


def test_reconciliation_marks_vanished_relations_lost_but_keeps_newer_event_data(sim_tenant):
    sync.request_sync(sim_tenant.tenant_id, "test")
    drain_sync_queue(lambda: LONG)
    company = sim_tenant.company
    (gone_ext, gone_user), (touched_ext, touched_user) = sorted(wecom_relations(company))[:2]
    company.book.remove_follow(gone_user, gone_ext)
    company.book.remove_follow(touched_user, touched_ext)
    store = CustomerStore(sim_tenant.tenant_id)
    touched = {r.userid: r for r in store.get_follows(touched_ext)}[touched_user]
    later = time.time() + 100
    assert store.apply_follow(replace(touched, remark="from an event", event_time=int(later) + 50))
    sync.request_sync(sim_tenant.tenant_id, "test", now=int(later))
    drain_sync_queue(lambda: LONG, clock=lambda: time.time() + 100)
    gone = {r.userid: r for r in store.get_follows(gone_ext)}[gone_user]
    assert gone.status == "lost"
    assert gone.lost_by == "sync"
    assert gone.lost_at == int(later)
    kept = {r.userid: r for r in store.get_follows(touched_ext)}[touched_user]
    assert kept.active
    assert kept.remark == "from an event"
    assert SyncRuns(sim_tenant.tenant_id).current().counts["lost"] == 1
    lost = CustomerDirectory(sim_tenant.tenant_id).lost_relations(10, None).items
    assert lost == [(gone_ext, gone_user)]
    rows = stored_relations(sim_tenant.tenant_id)
    assert (gone_ext, gone_user) not in rows
    assert len(rows) == len(wecom_relations(company)) + 1


def test_an_employee_gone_from_wecom_is_marked_departed_and_recorded_for_handover(sim_tenant):
    sync.request_sync(sim_tenant.tenant_id, "test")
    drain_sync_queue(lambda: LONG)
    leaver = sorted(sim_tenant.company.employees)[0]
    sim_tenant.company.employees[leaver].resigned_at = 1.0
    sync.request_sync(sim_tenant.tenant_id, "test")
    drain_sync_queue(lambda: LONG)
    employees = {e.userid: e for e in CustomerStore(sim_tenant.tenant_id).list_employees()}
    assert not employees[leaver].active
    assert sum(e.active for e in employees.values()) == len(employees) - 1
    status = SyncRuns(sim_tenant.tenant_id).current()
    assert status.departed_userids == (leaver,)
    sqs = boto3.client("sqs")
    events = sqs.get_queue_url(QueueName=resources.EVENTS.name)["QueueUrl"]
    [queued] = [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=events, MaxNumberOfMessages=10)["Messages"]]
    handover = WeComEvent.from_message(queued)
    assert (handover.kind, handover.user_id, queued["tenant_id"]) == ("change_contact/delete_user", leaver, "sim-corp")
    assert status.handover
    assert status.counts["departed"] == 1
    assert status.counts["lost"] == 0


def test_one_run_at_a_time_and_the_admin_trigger(sim_tenant):
    api = sim_tenant.api
    started = call(api, "POST", "/v1/sync", sim_tenant.token)
    assert started.status_code == 202, started.body
    run_id = started.json_body["run"]["run_id"]
    assert call(api, "POST", "/v1/sync", sim_tenant.token).status_code == 409
    with pytest.raises(SyncRunning):
        sync.request_sync(sim_tenant.tenant_id, "test")
    drain_sync_queue(lambda: LONG)
    status = call(api, "GET", "/v1/sync", sim_tenant.token).json_body["run"]
    assert status["run_id"] == run_id
    assert status["status"] == DONE
    assert status["counts"]["relations"] > 0


def test_nightly_fan_out_starts_a_run_per_tenant_in_good_standing(sim_tenant):
    from tests.tenancy import create_tenant

    create_tenant(sim_tenant.api, tenant_id="other-corp", corp_id="wwother")
    sync.request_nightly()
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=resources.SYNC.name)["QueueUrl"]
    fanout = sqs.receive_message(QueueUrl=url)["Messages"][0]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=fanout["ReceiptHandle"])
    handle_message(json.loads(fanout["Body"]), lambda: 600_000)
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    bodies = [json.loads(m["Body"]) for m in received]
    customers = [b for b in bodies if b["type"] == sync.SYNC_MESSAGE]
    assert sorted(b["tenant_id"] for b in customers) == ["other-corp", "sim-corp"]
    assert {b["phase"] for b in customers} == {sync.DIRECTORY}
    groups = [b for b in bodies if b["type"] == "groups.sync"]
    assert sorted(b["tenant_id"] for b in groups) == ["other-corp", "sim-corp"]
    assert SyncRuns("other-corp").current().trigger == "nightly"
