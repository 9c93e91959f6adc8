"""The mass-message admin API over moto, with the simulator as WeCom: create → preview → send → plan and dispatch
(the SQS handlers fed SQS-shaped events) → counts, paged results, remind, cancel; materials resolved at creation
and again at dispatch; bad input named by field; the plan's monthly quota (402); roles and the sales key's view;
other tenants' broadcasts are not found."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from chalicelib import resources
from chalicelib.services.broadcast_results import Follower
from chalicelib.store.broadcasts import BroadcastStore
from chalicelib.workers.dispatch import handle_dispatch_event
from chalicelib.workers.plan import handle_plan_event
from local.wecom_sim import SimConfig
from tests.tenancy import SimTenant, call, create_tenant

pytestmark = pytest.mark.filterwarnings("ignore:IAMAuthorizer is not a supported in local mode")

TENANT = "bc-admin"


@pytest.fixture
def corp(sim_tenant_factory: Any) -> SimTenant:
    """A pro tenant for a simulated company of 5 employees, 40 customers and 3 tags whose customers are in the store
    (as a sync would leave them); WeCom confirms a mass message 30 simulated s after it is sent."""
    config = SimConfig(seed=31, dispatch_seconds=0, confirm_delay=30)
    return sim_tenant_factory(TENANT, config=config, employees=5, customers=40, tags=3, customers_in_store=True)


def drain(queue: resources.Queue, handler: Any) -> int:
    """Feed the queue's messages to its SQS handler as Lambda would (10 a batch) until it is empty; returns how many."""
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=queue.name)["QueueUrl"]
    handled = 0
    while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        event = {"Records": [{"messageId": m["MessageId"], "body": m["Body"]} for m in got]}
        assert handler(event) == {"batchItemFailures": []}
        for message in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        handled += len(got)
    return handled


def plan_and_dispatch() -> None:
    drain(resources.PLAN, handle_plan_event)
    assert drain(resources.DISPATCH, handle_dispatch_event) > 0


def key(api: Any, admin: str, role: str, employee: str | None = None) -> str:
    body = {"role": role, "label": role} | ({"employee_userid": employee} if employee else {})
    return call(api, "POST", "/v1/api-keys", admin, body).json_body["token"]


def pages(api: Any, path: str, token: str, field: str, limit: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        answer = call(api, "GET", f"{path}?limit={limit}" + (f"&cursor={cursor}" if cursor else ""), token)
        assert answer.status_code == 200, answer.body
        rows += answer.json_body[field]
        cursor = answer.json_body["next_cursor"]
        if not cursor:
            return rows
    raise AssertionError("paging did not end")


def test_create_preview_send_dispatch_results_remind_and_cancel(corp: SimTenant) -> None:
    api = corp.api
    token = corp.token
    tag = sorted(corp.company.tags.tags)[0]
    audience = {"tags": [tag]}
    first = call(api, "POST", "/v1/broadcasts/preview", token, {"audience": audience}).json_body["preview"]
    assert first["recipients"] > 2
    assert first["exact"]
    quiet = next(e for e in corp.company.book.customers if tag in corp.company.book.follows_of_customer(e)[0].tag_ids)
    assert call(api, "PUT", f"/v1/customers/{quiet}/do-not-disturb", token).json_body["do_not_disturb"] is True
    preview = call(api, "POST", "/v1/broadcasts/preview", token, {"audience": audience}).json_body["preview"]
    assert preview["recipients"] == first["recipients"] - 1
    assert preview["skipped"]["do_not_disturb"] == 1

    created = call(api, "POST", "/v1/broadcasts", token, {"text": "spring sale", "audience": audience, "draft": True})
    assert created.status_code == 201, created.body
    broadcast_id = created.json_body["broadcast"]["broadcast_id"]
    assert created.json_body["broadcast"]["status"] == "draft"
    assert call(api, "GET", f"/v1/broadcasts/{broadcast_id}/preview", token).json_body["preview"] == preview

    sent = call(api, "POST", f"/v1/broadcasts/{broadcast_id}/send", token)
    assert sent.json_body["broadcast"]["status"] == "planning", sent.body
    assert call(api, "POST", f"/v1/broadcasts/{broadcast_id}/send", token).status_code == 409
    assert call(api, "GET", "/v1/broadcast-policy", token).json_body["usage"]["used"] == 1
    plan_and_dispatch()

    view = call(api, "GET", f"/v1/broadcasts/{broadcast_id}", token).json_body["broadcast"]
    assert view["status"] == "following"
    assert view["counts"]["recipients"] == preview["recipients"]
    assert view["counts"]["senders"] == preview["senders"]
    assert view["counts"]["batches_sent"] == view["counts"]["batches"] == preview["batches"]
    assert view["skipped"] == preview["skipped"]
    employees = pages(api, f"/v1/broadcasts/{broadcast_id}/employees", token, "employees", 2)
    assert len(employees) == preview["senders"]
    assert not any(e["confirmed"] for e in employees)
    reminded = call(api, "POST", f"/v1/broadcasts/{broadcast_id}/remind", token).json_body["reminders"]
    assert reminded == {"reminded": preview["senders"], "skipped": 0}
    assert sum(len(m.reminders) for m in corp.company.mass.messages.values()) == preview["senders"]

    corp.sim.clock.advance(60)
    assert Follower(TENANT).follow(broadcast_id).result == "done"
    view = call(api, "GET", f"/v1/broadcasts/{broadcast_id}", token).json_body["broadcast"]
    assert view["status"] == "done"
    assert view["counts"]["employees_confirmed"] == preview["senders"]
    customers = pages(api, f"/v1/broadcasts/{broadcast_id}/customers", token, "customers", 7)
    assert len(customers) == preview["recipients"]
    assert view["counts"]["sent"] == sum(1 for c in customers if c["status"] == "sent") > 0
    assert quiet not in {c["recipient"] for c in customers}
    batches = call(api, "GET", f"/v1/broadcasts/{broadcast_id}/batches", token).json_body["batches"]
    assert all(b["status"] == "sent" and b["msgid"] for b in batches)
    assert call(api, "POST", f"/v1/broadcasts/{broadcast_id}/cancel", token).status_code == 409
    assert call(api, "POST", f"/v1/broadcasts/{broadcast_id}/remind", token).status_code == 409

    after = call(api, "POST", "/v1/broadcasts", token, {"text": "second", "audience": {"all_customers": True}})
    second = after.json_body["broadcast"]["broadcast_id"]
    plan_and_dispatch()
    cancelled = call(api, "POST", f"/v1/broadcasts/{second}/cancel", token)
    assert cancelled.json_body["broadcast"]["status"] == "cancelled", cancelled.body
    msgids = {b.state.msgid for b in BroadcastStore(TENANT).batches(second).items}
    assert msgids
    assert all(corp.company.mass.messages[m].cancelled for m in msgids)
    listed = pages(api, "/v1/broadcasts", token, "broadcasts", 1)
    assert [b["broadcast_id"] for b in listed] == [second, broadcast_id]
    only_done = call(api, "GET", "/v1/broadcasts?status=done", token).json_body["broadcasts"]
    assert [b["broadcast_id"] for b in only_done] == [broadcast_id]


def test_roles_and_the_sales_view(corp: SimTenant) -> None:
    api = corp.api
    admin = corp.token
    viewer = key(api, admin, "viewer")
    everyone = {"text": "x", "audience": {"all_customers": True}}
    assert call(api, "POST", "/v1/broadcasts", viewer, everyone).status_code == 403
    assert call(api, "PUT", "/v1/broadcast-policy", viewer, {"follow_hours": 24}).status_code == 403
    created = call(api, "POST", "/v1/broadcasts", admin, {"text": "hello", "audience": {"all_customers": True}})
    broadcast_id = created.json_body["broadcast"]["broadcast_id"]
    plan_and_dispatch()
    assert call(api, "GET", f"/v1/broadcasts/{broadcast_id}", viewer).json_body["broadcast"]["counts"]["recipients"]
    assert call(api, "POST", f"/v1/broadcasts/{broadcast_id}/cancel", viewer).status_code == 403

    senders = {e["userid"] for e in pages(api, f"/v1/broadcasts/{broadcast_id}/employees", admin, "employees", 50)}
    seller = sorted(senders)[0]
    sales = key(api, admin, "sales", seller)
    assert call(api, "POST", "/v1/broadcasts", sales, everyone).status_code == 403
    assert call(api, "POST", "/v1/broadcasts/preview", sales, {"audience": {"all_customers": True}}).status_code == 403
    own = call(api, "GET", f"/v1/broadcasts/{broadcast_id}", sales).json_body["broadcast"]
    assert own["mine"]["userid"] == seller
    assert "counts" not in own
    assert "audience" not in own
    assert [b["broadcast_id"] for b in call(api, "GET", "/v1/broadcasts", sales).json_body["broadcasts"]] == [
        broadcast_id
    ]
    rows = call(api, "GET", f"/v1/broadcasts/{broadcast_id}/employees", sales).json_body["employees"]
    assert [r["userid"] for r in rows] == [seller]
    corp.sim.clock.advance(60)
    Follower(TENANT).follow(broadcast_id)
    mine = pages(api, f"/v1/broadcasts/{broadcast_id}/customers", sales, "customers", 10)
    everyone = pages(api, f"/v1/broadcasts/{broadcast_id}/customers", admin, "customers", 100)
    assert mine
    assert {c["userid"] for c in mine} == {seller}
    assert len(mine) == sum(1 for c in everyone if c["userid"] == seller) < len(everyone)
    stranger = key(api, admin, "sales", "sends-nothing")
    assert call(api, "GET", f"/v1/broadcasts/{broadcast_id}", stranger).status_code == 404
    assert call(api, "GET", f"/v1/broadcasts/{broadcast_id}/customers", stranger).status_code == 404
    assert call(api, "GET", "/v1/broadcasts", stranger).json_body["broadcasts"] == []
    assert call(api, "GET", f"/v1/broadcasts/{broadcast_id}/batches", sales).status_code == 403


def test_material_attachments_are_resolved_at_creation_and_again_at_dispatch(corp: SimTenant) -> None:
    api = corp.api
    token = corp.token
    material = call(
        api, "POST", "/v1/materials", token, {"type": "link", "title": "Spring", "url": "https://shop.example.com"}
    ).json_body["material"]
    missing = call(
        api,
        "POST",
        "/v1/broadcasts",
        token,
        {"text": "x", "audience": {"all_customers": True}, "attachments": [{"material_id": "0" * 20}]},
    )
    assert missing.status_code == 400
    assert missing.json_body["Message"] == "attachments[0].material_id: no such material"
    inline = {"msgtype": "link", "link": {"title": "Inline", "url": "https://a.example.com"}}
    body = {
        "text": "look",
        "audience": {"all_customers": True},
        "attachments": [inline, {"material_id": material["material_id"]}],
        "draft": True,
    }
    created = call(api, "POST", "/v1/broadcasts", token, body).json_body["broadcast"]
    assert created["content"]["attachments"][1] == {
        "msgtype": "link",
        "link": {"title": "Spring", "url": "https://shop.example.com"},
    }
    patched = call(api, "PATCH", f"/v1/materials/{material['material_id']}", token, {"title": "Summer"})
    assert patched.status_code == 200
    call(api, "POST", f"/v1/broadcasts/{created['broadcast_id']}/send", token)
    plan_and_dispatch()
    sent = list(corp.company.mass.messages.values())
    assert sent
    assert all(m.attachments[0]["link"]["title"] == "Inline" for m in sent)
    assert all(m.attachments[1]["link"]["title"] == "Summer" for m in sent)
    used = call(api, "GET", f"/v1/materials/{material['material_id']}", token).json_body["material"]
    assert used["use_count"] == 1


BAD_CREATES = [
    ({"audience": {"all_customers": True}}, "text.content: required when there are no attachments"),
    ({"text": "é" * 2001, "audience": {"all_customers": True}}, "text.content: 4002 bytes, at most 4000"),
    ({"text": "x"}, "field 'audience' is required when chat_type is single"),
    ({"text": "x", "audience": {}}, "audience: give a criterion"),
    ({"text": "x", "audience": {"tags": ["a"], "tag_match": "most"}}, "audience.tag_match: must be any or all"),
    ({"text": "x", "audience": {"tags": ["a"], "excluded_tags": ["a"]}}, "audience.excluded_tags: also in tags"),
    ({"text": "x", "audience": {"added_from": 9, "added_to": 1}}, "audience.added_from: after added_to"),
    ({"text": "x", "audience": {"tags": "a"}}, "audience.tags: must be a list of strings"),
    ({"text": "x", "audience": {"colour": 1}}, "audience: unknown fields ['colour']"),
    ({"text": "x", "audience": {"all_customers": True}, "send_at": 1000}, "send_at: in the past"),
    ({"text": "x", "audience": {"all_customers": True}, "chat_type": "room"}, "field 'chat_type' must be one of"),
    ({"text": "x", "audience": {"all_customers": True}, "sender": "a b"}, "field 'sender' must match"),
    ({"text": "x", "chat_type": "group", "audience": {"chat_ids": []}}, "sender: required when chat_type is group"),
    ({"text": "x", "chat_type": "group", "sender": "u1", "audience": {"tags": []}}, "audience: a group broadcast"),
    ({"text": "x", "audience": {"all_customers": True}, "attachments": [{}] * 10}, "field 'attachments' has more"),
    (
        {"text": "x", "audience": {"all_customers": True}, "attachments": [{"msgtype": "link", "link": {}}]},
        "attachments[0].link.title: required",
    ),
    (
        {"text": "x", "audience": {"all_customers": True}, "attachments": [{"msgtype": "gif", "gif": {}}]},
        "attachments[0].msgtype: must be one of",
    ),
    (
        {
            "text": "x",
            "audience": {"all_customers": True},
            "attachments": [{"msgtype": "image", "image": {"media_id": "m", "pic_url": "https://p"}}],
        },
        "attachments[0].image: give exactly one of media_id or pic_url",
    ),
    ({"text": "x", "audience": {"all_customers": True}, "draft": "yes"}, "field 'draft' must be a boolean"),
    ({"text": "x", "audience": {"all_customers": True}, "colour": 1}, "unknown field(s): colour"),
]

BAD_POLICIES = [
    ({"quota": "year"}, "field 'quota' must be one of"),
    ({"quiet_rules": [{"at_most": 0, "days": 7}]}, "quiet_rules[0]: at most 0 per 7 days"),
    ({"quiet_rules": [{"gap_hours": "x"}]}, "quiet_rules[0].gap_hours: must be a number"),
    ({"quiet_rules": [{"every": 3}]}, "quiet_rules[0]: give"),
    ({"timezone": "Mars/Olympus"}, "timezone: unknown time zone 'Mars/Olympus'"),
    ({"follow_hours": 0}, "field 'follow_hours' must be at least 1"),
    ({"follow_hours": 24, "auto_remind_after_hours": 24}, "auto_remind_after_hours: must be less than follow_hours"),
]


def test_bad_input_is_refused_naming_the_field(api: Any, aws: Any) -> None:
    token = create_tenant(api, tenant_id="bc-bad", plan="pro", paid_days=30)["admin_key"]["token"]
    for body, message in BAD_CREATES:
        answer = call(api, "POST", "/v1/broadcasts", token, body)
        assert answer.status_code == 400, (body, answer.body)
        assert message in answer.json_body["Message"], (message, answer.json_body["Message"])
    for body, message in BAD_POLICIES:
        answer = call(api, "PUT", "/v1/broadcast-policy", token, body)
        assert answer.status_code == 400, (body, answer.body)
        assert message in answer.json_body["Message"], (message, answer.json_body["Message"])
    for query in ("limit=0", "limit=101", "cursor=notacursor", "status=sleeping"):
        assert call(api, "GET", f"/v1/broadcasts?{query}", token).status_code == 400, query
    assert call(api, "GET", "/v1/broadcasts", token).json_body == {"broadcasts": [], "next_cursor": None}
    assert call(api, "PUT", "/v1/customers/wmNOBODY/do-not-disturb", token).status_code == 404


def test_policy_is_read_and_changed_field_by_field(api: Any, aws: Any) -> None:
    token = create_tenant(api, tenant_id="bc-policy", plan="pro", paid_days=30)["admin_key"]["token"]
    first = call(api, "GET", "/v1/broadcast-policy", token).json_body
    assert first["policy"]["quota"] == "month"
    assert first["usage"]["allowed"] == 300
    changed = call(
        api, "PUT", "/v1/broadcast-policy", token, {"quota": "week", "quiet_rules": [{"at_most": 2, "days": 7}]}
    )
    assert changed.status_code == 200, changed.body
    again = call(api, "PUT", "/v1/broadcast-policy", token, {"follow_hours": 48, "auto_remind_after_hours": 24})
    policy = again.json_body["policy"]
    assert policy["quota"] == "week"
    assert policy["quiet_rules"] == [{"at_most": 2, "days": 7}]
    assert (policy["follow_hours"], policy["auto_remind_after_hours"]) == (48, 24)
    assert call(api, "GET", "/v1/broadcast-policy", token).json_body["policy"] == policy


def test_the_plans_monthly_mass_messages_are_enforced_with_402(api: Any, aws: Any) -> None:
    token = create_tenant(api, tenant_id="bc-trial")["admin_key"]["token"]
    body = {"text": "hi", "audience": {"all_customers": True}}
    draft = call(api, "POST", "/v1/broadcasts", token, body | {"draft": True}).json_body["broadcast"]["broadcast_id"]
    for _ in range(4):
        assert call(api, "POST", "/v1/broadcasts", token, body).status_code == 201
    over = call(api, "POST", "/v1/broadcasts", token, body)
    assert over.status_code == 402
    assert "trial plan allows 4 mass messages a month and 4 were sent" in over.json_body["Message"]
    assert call(api, "POST", f"/v1/broadcasts/{draft}/send", token).status_code == 402
    assert len(call(api, "GET", "/v1/broadcasts", token).json_body["broadcasts"]) == 5
    assert call(api, "POST", "/v1/broadcasts", token, body | {"draft": True}).status_code == 201
    assert call(api, "GET", "/v1/broadcast-policy", token).json_body["usage"]["used"] == 4


def test_group_chat_messages_preview_and_plan_through_the_same_engine(api: Any, aws: Any) -> None:
    token = create_tenant(api, tenant_id="bc-groups", plan="pro", paid_days=30)["admin_key"]["token"]
    audience = {"chat_ids": ["wrA", "wrB", "wrA"]}
    preview = call(
        api, "POST", "/v1/broadcasts/preview", token, {"chat_type": "group", "sender": "emp1", "audience": audience}
    ).json_body["preview"]
    assert preview == {"recipients": 2, "senders": 1, "batches": 1, "skipped": {}, "exact": True}
    body = {"text": "group hello", "chat_type": "group", "sender": "emp1", "audience": audience}
    created = call(api, "POST", "/v1/broadcasts", token, body).json_body["broadcast"]
    drain(resources.PLAN, handle_plan_event)
    view = call(api, "GET", f"/v1/broadcasts/{created['broadcast_id']}", token).json_body["broadcast"]
    assert view["chat_type"] == "group"
    assert view["counts"]["recipients"] == 2
    assert view["status"] == "dispatching"


def test_another_tenants_broadcast_is_not_found(api: Any, aws: Any) -> None:
    a = create_tenant(api, tenant_id="bc-a", plan="pro", paid_days=30)["admin_key"]["token"]
    b = create_tenant(api, tenant_id="bc-b", plan="pro", paid_days=30)["admin_key"]["token"]
    body = {"text": "b only", "audience": {"all_customers": True}, "draft": True}
    b_id = call(api, "POST", "/v1/broadcasts", b, body).json_body["broadcast"]["broadcast_id"]
    call(api, "POST", "/v1/broadcasts", b, body)
    b_cursor = call(api, "GET", "/v1/broadcasts?limit=1", b).json_body["next_cursor"]
    assert b_cursor
    for method, suffix in [
        ("GET", ""),
        ("GET", "/preview"),
        ("GET", "/employees"),
        ("GET", "/customers"),
        ("GET", "/batches"),
        ("POST", "/send"),
        ("POST", "/cancel"),
        ("POST", "/remind"),
    ]:
        answer = call(api, method, f"/v1/broadcasts/{b_id}{suffix}", a)
        assert answer.status_code == 404, (method, suffix, answer.body)
        assert "b only" not in answer.body.decode()
    assert call(api, "GET", f"/v1/broadcasts?cursor={b_cursor}", a).status_code == 400
    assert call(api, "GET", f"/v1/broadcasts/{b_id}", b).json_body["broadcast"]["status"] == "draft"
    assert json.loads(call(api, "GET", "/v1/broadcasts", a).body) == {"broadcasts": [], "next_cursor": None}
