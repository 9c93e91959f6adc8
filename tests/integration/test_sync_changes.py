"""The nightly sync against moto and the WeCom simulator: it writes only what changed, its lanes finish the run once,
and a crashed invocation's redelivery neither loses nor wrongly marks lost any relation."""

from __future__ import annotations

import json

import boto3
import pytest

from chalicelib import resources
from chalicelib.domain.audience import AudienceSource, SourceKind
from chalicelib.services import sync
from chalicelib.store.customer_directory import CustomerDirectory
from chalicelib.store.customers import CustomerStore
from chalicelib.store.sync_runs import DONE, SyncRuns
from chalicelib.workers.sync import handle_message
from tests.integration.sync_queue import drain_sync_queue
from tests.integration.test_sync import LONG, stored_relations, wecom_relations

pytestmark = pytest.mark.filterwarnings("ignore:IAMAuthorizer is not a supported in local mode")


def full_sync(tenant_id: str, budget_ms: float = LONG, **options: object) -> dict[str, int]:
    sync.request_sync(tenant_id, "test", **options)
    drain_sync_queue(lambda: budget_ms)
    run = SyncRuns(tenant_id).current()
    assert run.status == DONE
    return run.counts


def test_an_unchanged_resync_writes_nothing_and_marks_nothing_lost(sim_tenant):
    first = full_sync(sim_tenant.tenant_id)
    relations = len(wecom_relations(sim_tenant.company))
    assert first["items_written"] >= 3 * relations
    again = full_sync(sim_tenant.tenant_id)
    assert again["items_written"] == 0
    assert (again["relations"], again["unchanged"], again["lost"]) == (relations, relations, 0)
    assert again["items_read"] > 0
    assert set(stored_relations(sim_tenant.tenant_id)) == set(wecom_relations(sim_tenant.company))


def test_a_changed_customer_is_written_with_its_memberships_card_and_find_items(sim_tenant):
    full_sync(sim_tenant.tenant_id)
    company = sim_tenant.company
    changed = company.drift(0.05, seed=7)
    assert changed > 0
    counts = full_sync(sim_tenant.tenant_id)
    relations = len(wecom_relations(company))
    assert counts["relations"] - counts["unchanged"] == changed
    assert counts["unchanged"] == relations - changed
    assert 0 < counts["items_written"] <= 8 * changed
    store = CustomerStore(sim_tenant.tenant_id)
    drifted = [e for e in company.book.customers if company.book.follows_of_customer(e)[0].remark == "drift 7"]
    assert len(drifted) == changed
    ext = drifted[0]
    follow = company.book.follows_of_customer(ext)[0]
    stored = {r.userid: r for r in store.get_follows(ext)}[follow.userid]
    assert (stored.remark, stored.tag_ids) == ("drift 7", frozenset(follow.tag_ids))
    card = store.get_cards([ext])[ext]
    assert {r.userid: r.tags for r in card.relations}[follow.userid] == frozenset(follow.tag_ids)
    for tag in follow.tag_ids:
        members = []
        for page in store.audience_pages(AudienceSource(SourceKind.TAGS, (tag,)), page_size=500):
            members.extend((r.external_userid, r.userid) for r in page.rows)
        assert (ext, follow.userid) in members
    found = CustomerDirectory(sim_tenant.tenant_id).search("remark", "drift 7", 500, None).items
    assert sorted(found) == sorted((e, company.book.follows_of_customer(e)[0].userid) for e in drifted)


def test_parallel_lanes_finish_the_run_exactly_once_even_when_a_lane_is_delivered_twice(sim_tenant, monkeypatch):
    finished = []
    original = SyncRuns.finish

    def counting_finish(self, run_id, now, error=None, only_running=False):
        done = original(self, run_id, now, error, only_running)
        finished.append(done)
        return done

    monkeypatch.setattr(SyncRuns, "finish", counting_finish)
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=resources.SYNC.name)["QueueUrl"]
    run = sync.request_sync(sim_tenant.tenant_id, "test", lanes=sync.LANES)

    def take() -> list[dict]:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        for message in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return [json.loads(m["Body"]) for m in got]

    [directory] = take()
    handle_message(directory, lambda: LONG)
    lanes = take()
    assert sorted(m["lane"] for m in lanes) == list(range(sync.LANES))
    for lane in lanes[:-1]:
        handle_message(lane, lambda: LONG)
        handle_message(lane, lambda: LONG)
        assert SyncRuns(sim_tenant.tenant_id).current().status != DONE
    handle_message(lanes[-1], lambda: LONG)
    handle_message(lanes[-1], lambda: LONG)
    assert take() == []
    status = SyncRuns(sim_tenant.tenant_id).current()
    assert (status.run_id, status.status, status.counts["lanes"]) == (run.run_id, DONE, sync.LANES)
    assert finished == [True]
    assert set(stored_relations(sim_tenant.tenant_id)) == set(wecom_relations(sim_tenant.company))


def test_a_crashed_invocation_is_redelivered_without_losing_or_wrongly_marking_relations(sim_tenant, monkeypatch):
    full_sync(sim_tenant.tenant_id)
    company = sim_tenant.company
    gone_ext, gone_user = sorted(wecom_relations(company))[0]
    company.book.remove_follow(gone_user, gone_ext)
    monkeypatch.setattr(sync.rules, "RESERVE_MS", 0)
    writes = {"calls": 0}
    original = CustomerDirectory.put_find_items

    def crash_once(self, relations, names):
        writes["calls"] += 1
        if writes["calls"] == 3:
            raise RuntimeError("the invocation died after writing part of a page")
        return original(self, relations, names)

    monkeypatch.setattr(CustomerDirectory, "put_find_items", crash_once)
    saved = []
    save_seen = SyncRuns.save_seen

    def recording_save_seen(self, run_id, chunk, start, pairs, now):
        saved.append(len(pairs))
        return save_seen(self, run_id, chunk, start, pairs, now)

    monkeypatch.setattr(SyncRuns, "save_seen", recording_save_seen)
    sync.request_sync(sim_tenant.tenant_id, "test", lanes=2)
    invocations = drain_sync_queue(lambda: 150.0, redeliver_failures=True)
    assert writes["calls"] > 3
    assert saved, "no chunk was handed over between invocations: reconciliation across invocations is untested"
    status = SyncRuns(sim_tenant.tenant_id).current()
    assert status.status == DONE
    assert invocations > 4
    assert status.counts["lost"] == 1
    assert set(stored_relations(sim_tenant.tenant_id)) == set(wecom_relations(company))
    lost = CustomerDirectory(sim_tenant.tenant_id).lost_relations(10, None).items
    assert lost == [(gone_ext, gone_user)]
