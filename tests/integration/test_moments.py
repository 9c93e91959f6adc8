"""Customer moments on moto with the simulator as WeCom: a task created from the admin API, submitted within the
corp's shared limits, followed to its end by the schedule's timers (job result, who published, whom it reached,
comments and likes as customer events, a reminder to those who did not publish), paged results, and cancel."""

from __future__ import annotations

import pytest

from chalicelib.domain import moments as rules
from chalicelib.domain.token_bucket import TokenBucket
from chalicelib.services import moments
from chalicelib.store.moments import MomentStore
from local.wecom_sim.config import SimConfig
from tests.tenancy import SimTenant

pytestmark = pytest.mark.filterwarnings("ignore:IAMAuthorizer is not a supported in local mode")

SENDERS = ["emp00001", "emp00002", "emp00003", "emp00004"]


@pytest.fixture
def moment_tenant(sim_tenant_factory) -> SimTenant:
    config = SimConfig(
        seed=9,
        dispatch_seconds=5,
        confirm_delay=60,
        never_confirm_share=0.5,
        moment_like_share=0.5,
        moment_comment_share=0.3,
    )
    return sim_tenant_factory("mom-corp", config=config, employees=8, customers=80, customers_in_store=True)


def link_material(tenant: SimTenant) -> str:
    link = {"type": "link", "title": "春季新品", "url": "https://shop.example.com/spring"}
    created = tenant.admin("POST", "/v1/materials", link)
    assert created.status_code == 201, created.body
    return created.json_body["material"]["material_id"]


def follow(tenant: SimTenant, task_id: str, seconds: float) -> dict:
    """Move WeCom's clock on, run the task's follow timer as the schedule would, and read the task back."""
    now = int(tenant.sim.clock.advance(seconds))
    moments.run_timer(tenant.tenant_id, task_id, moments.MOMENT_FOLLOW, now=now)
    return tenant.admin("GET", f"/v1/moments/{task_id}").json_body["moment"]


def test_a_moment_task_is_followed_to_its_end(moment_tenant: SimTenant):
    body = {"text": "春季新品上市", "material_ids": [link_material(moment_tenant)], "userids": [*SENDERS, "gone"]}
    created = moment_tenant.admin("POST", "/v1/moments", body)
    assert created.status_code == 201, created.body
    task = created.json_body["moment"]
    assert task["status"] == "submitted"
    assert task["attachments"] == [
        {"msgtype": "link", "link": {"title": "春季新品", "url": "https://shop.example.com/spring"}}
    ]
    task_id = task["moment_task_id"]

    task = follow(moment_tenant, task_id, 10)
    assert task["status"] == "following"
    assert task["invalid"]["userids"] == ["gone"]
    assert task["counts"]["employees"] == len(SENDERS)

    task = follow(moment_tenant, task_id, 200)
    sim_task = next(iter(moment_tenant.company.moments.by_moment.values()))
    published = sorted(u for u, at in sim_task.publish_at.items() if at is not None)
    assert 0 < task["counts"]["published"] == len(published) < len(SENDERS)
    reached = sum(len(sim_task.reached[u]) for u in published)
    assert task["counts"]["customers_reached"] == reached
    likes = sum(len(sim_task.likes[u]) for u in published)
    assert task["counts"]["likes"] == likes > 0

    task = follow(moment_tenant, task_id, rules.REMIND_AFTER_SECONDS)
    waiting = len(SENDERS) - len(published)
    assert task["counts"]["reminded"] == waiting
    assert moment_tenant.stats()["app_messages"]["delivered"] == waiting
    task = follow(moment_tenant, task_id, rules.FOLLOW_INTERVAL_SECONDS)
    assert task["counts"]["reminded"] == waiting, "one reminder per employee"
    assert moment_tenant.stats()["app_messages"]["delivered"] == waiting

    task = follow(moment_tenant, task_id, rules.FOLLOW_WINDOW_SECONDS)
    assert task["status"] == "done"

    employees = moment_tenant.admin("GET", f"/v1/moments/{task_id}/employees?limit=3").json_body
    rest = moment_tenant.admin("GET", f"/v1/moments/{task_id}/employees?cursor={employees['next_cursor']}").json_body
    rows = {e["userid"]: e for e in employees["employees"] + rest["employees"]}
    assert sorted(rows) == SENDERS
    assert sorted(u for u, e in rows.items() if e["published"]) == published
    customers = moment_tenant.admin("GET", f"/v1/moments/{task_id}/customers?limit=200").json_body["customers"]
    assert sum(c["reached"] for c in customers) == reached
    assert sum(c["liked"] for c in customers) == likes

    liker = next(c["external_userid"] for c in customers if c["liked"])
    events = MomentStore(moment_tenant.tenant_id).customer_events(liker)
    assert {(e.kind, e.ref) for e in events} >= {(rules.LIKE, sim_task.moment_id)}
    timeline = moment_tenant.admin("GET", f"/v1/customers/{liker}").json_body["timeline"]
    assert {"what": rules.LIKE, "moment_id": sim_task.moment_id} in [
        {"what": e["what"], "moment_id": e.get("moment_id")} for e in timeline
    ]


def test_cancel_and_refusals(moment_tenant: SimTenant, monkeypatch):
    material = link_material(moment_tenant)
    body = {"text": "限时活动", "material_ids": [material], "userids": SENDERS}
    task_id = moment_tenant.admin("POST", "/v1/moments", body).json_body["moment"]["moment_task_id"]
    cancel = f"/v1/moments/{task_id}/cancel"
    assert moment_tenant.admin("POST", cancel).status_code == 409, "WeCom has not said which moment it made yet"
    follow(moment_tenant, task_id, 10)
    cancelled = moment_tenant.admin("POST", cancel)
    assert cancelled.status_code == 200
    assert cancelled.json_body["moment"]["status"] == "cancelled"
    assert next(iter(moment_tenant.company.moments.by_moment.values())).cancelled_at is not None
    assert moment_tenant.admin("POST", cancel).status_code == 409

    again = moment_tenant.admin("POST", "/v1/moments", body).json_body["moment"]
    assert again["status"] == "scheduled", "the minute's creates are spent: it waits for its turn"

    later = moment_tenant.admin(
        "POST", "/v1/moments", {**body, "scheduled_at": int(moment_tenant.sim.clock.now()) + 3600}
    )
    assert later.json_body["moment"]["status"] == "scheduled"

    monkeypatch.setattr(rules, "TASKS_PER_MONTH_BUCKET", TokenBucket(1.0, 1 / 86_400))
    moment_tenant.admin("POST", "/v1/moments", {"text": "a"})
    refused = moment_tenant.admin("POST", "/v1/moments", {"text": "b"})
    assert refused.status_code == 429
    assert "month" in refused.json_body["Message"]
    listed = moment_tenant.admin("GET", "/v1/moments").json_body["moments"]
    assert "b" not in [m["text"] for m in listed]

    for bad, fragment in (
        ({"text": ""}, "text or attachments"),
        ({"text": "x" * 2001}, "text"),
        ({"material_ids": ["f" * 20]}, "material"),
    ):
        response = moment_tenant.admin("POST", "/v1/moments", bad)
        assert response.status_code == 400
        assert fragment in response.json_body["Message"]


def test_a_pass_reads_a_bounded_number_of_employees_in_turn(moment_tenant: SimTenant, monkeypatch):
    monkeypatch.setattr(rules, "EMPLOYEES_PER_PASS", 3)
    body = {"text": "分批跟进", "material_ids": [link_material(moment_tenant)], "userids": SENDERS}
    task_id = moment_tenant.admin("POST", "/v1/moments", body).json_body["moment"]["moment_task_id"]

    def details_read() -> int:
        return moment_tenant.stats()["calls"].get("externalcontact/get_moment_customer_list", 0)

    follow(moment_tenant, task_id, 10)
    assert details_read() == 3
    follow(moment_tenant, task_id, 200)
    assert details_read() == 4, "the fourth employee's turn"
    task = follow(moment_tenant, task_id, 60)
    assert details_read() == 7, "then the first three again"
    sim_task = next(iter(moment_tenant.company.moments.by_moment.values()))
    reached = sum(len(sim_task.reached[u]) for u, at in sim_task.publish_at.items() if at is not None)
    assert task["counts"]["customers_reached"] == reached
