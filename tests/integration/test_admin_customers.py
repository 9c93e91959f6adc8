"""Customers, tags and employees through the admin API, on a tenant synced from the WeCom simulator."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from chalicelib.services import sync
from tests.integration.sync_queue import drain_sync_queue
from tests.tenancy import call

pytestmark = pytest.mark.filterwarnings("ignore:IAMAuthorizer is not a supported in local mode")


@pytest.fixture
def synced(sim_tenant):
    sync.request_sync(sim_tenant.tenant_id, "test")
    drain_sync_queue(lambda: 600_000.0)
    return sim_tenant


@pytest.fixture
def api(synced):
    """The app's test client whose WeCom is the synced tenant's simulator."""
    return synced.api


def follows(company):
    return [f for userid in sorted(company.employees) for f in company.book.follows_of_user(userid)]


def all_pages(api, token, query, limit=40):
    rows, cursor = [], None
    for _ in range(200):
        path = f"/v1/customers?limit={limit}&{query}" + (f"&cursor={cursor}" if cursor else "")
        answer = call(api, "GET", path, token)
        assert answer.status_code == 200, answer.body
        rows += answer.json_body["customers"]
        cursor = answer.json_body["next_cursor"]
        if not cursor:
            return rows
    raise AssertionError("paging did not end")


def pairs(rows):
    return sorted((r["external_userid"], r["userid"]) for r in rows)


def test_filters_by_employee_tag_state_and_added_time_match_wecom(synced, api):
    company, token = synced.company, synced.token
    every = follows(company)
    userid = every[0].userid
    expected = [(f.external_userid, f.userid) for f in every if f.userid == userid]
    assert pairs(all_pages(api, token, f"employee={userid}")) == sorted(expected)
    tag = next(t for f in every for t in f.tag_ids)
    with_tag = sorted((f.external_userid, f.userid) for f in every if tag in f.tag_ids)
    assert pairs(all_pages(api, token, f"tag={tag}")) == with_tag
    other = next(t for f in every for t in f.tag_ids if t != tag)
    both = sorted((f.external_userid, f.userid) for f in every if {tag, other} <= set(f.tag_ids))
    assert pairs(all_pages(api, token, f"tag={tag},{other}&tag_match=all")) == both
    none = sorted((f.external_userid, f.userid) for f in every if tag not in f.tag_ids)
    assert pairs(all_pages(api, token, f"tag={tag}&tag_match=none", limit=100)) == none
    store_01 = sorted((f.external_userid, f.userid) for f in every if f.state == "store_01")
    assert pairs(all_pages(api, token, "state=store_01")) == store_01
    times = sorted(f.createtime for f in every)
    lo, hi = times[len(times) // 4], times[len(times) // 2]
    window = sorted((f.external_userid, f.userid) for f in every if f.userid == userid and lo <= f.createtime <= hi)
    assert pairs(all_pages(api, token, f"employee={userid}&added_from={lo}&added_to={hi}")) == window


def test_name_and_remark_prefix_search(synced, api):
    company, token = synced.company, synced.token
    follow = follows(company)[3]
    name = company.book.customers[follow.external_userid].name
    rows = all_pages(api, token, f"name_prefix={quote(name[:2])}")
    assert (follow.external_userid, follow.userid) in pairs(rows)
    assert all(r["name"].startswith(name[:2]) for r in rows)
    remarked = next(f for f in follows(company) if f.remark)
    rows = all_pages(api, token, f"remark_prefix={quote(remarked.remark)}")
    assert (remarked.external_userid, remarked.userid) in pairs(rows)
    assert all(r["remark"].startswith(remarked.remark) for r in rows)
    assert call(api, "GET", "/v1/customers?name_prefix=a&remark_prefix=b", token).status_code == 400


def test_one_customer_and_lost_relations_after_reconciliation(synced, api):
    company, token = synced.company, synced.token
    follow = follows(company)[0]
    detail = call(api, "GET", f"/v1/customers/{follow.external_userid}", token).json_body
    assert detail["customer"]["name"] == company.book.customers[follow.external_userid].name
    relation = next(r for r in detail["relations"] if r["userid"] == follow.userid)
    assert relation["tags"] == sorted(follow.tag_ids)
    assert {t["tag_id"] for t in relation["tag_names"]} == set(follow.tag_ids)
    assert detail["timeline"][0]["what"] == "added"
    company.book.remove_follow(follow.userid, follow.external_userid)
    later = __import__("time").time() + 100
    sync.request_sync(synced.tenant_id, "test", now=int(later))
    drain_sync_queue(lambda: 600_000.0, clock=lambda: __import__("time").time() + 100)
    lost = all_pages(api, token, "lost=true")
    assert pairs(lost) == [(follow.external_userid, follow.userid)]
    assert lost[0]["status"] == "lost"
    assert (follow.external_userid, follow.userid) not in pairs(all_pages(api, token, f"employee={follow.userid}"))
    detail = call(api, "GET", f"/v1/customers/{follow.external_userid}", token).json_body
    assert any(e["what"] == "lost" and e["userid"] == follow.userid for e in detail["timeline"])


def sales_token(api, admin, userid):
    created = call(api, "POST", "/v1/api-keys", admin, {"role": "sales", "employee_userid": userid})
    return created.json_body["token"]


def test_a_sales_key_sees_and_edits_only_its_own_customers(synced, api):
    company = synced.company
    every = follows(company)
    mine = every[0].userid
    token = sales_token(api, synced.token, mine)
    rows = all_pages(api, token, "")
    assert rows
    assert {r["userid"] for r in rows} == {mine}
    assert len(rows) == sum(1 for f in every if f.userid == mine)
    assert {r["userid"] for r in all_pages(api, token, f"employee={every[-1].userid}")} <= {mine}
    theirs = next(f for f in every if f.userid != mine and not company.book.follow(mine, f.external_userid))
    assert call(api, "GET", f"/v1/customers/{theirs.external_userid}", token).status_code == 404
    tag = next(iter(company.tags.tags))
    assert call(api, "POST", f"/v1/customers/{theirs.external_userid}/tags", token, {"add": [tag]}).status_code == 404
    employees = call(api, "GET", "/v1/employees", token).json_body["employees"]
    assert [e["userid"] for e in employees] == [mine]
    assert call(api, "GET", f"/v1/employees/{theirs.userid}", token).status_code == 404
    assert call(api, "POST", "/v1/tags", token, {"tags": ["x"], "group_name": "g"}).status_code == 403


def test_tags_and_remarks_are_written_to_wecom_and_the_store_idempotently(synced, api):
    company, token = synced.company, synced.token
    follow = next(f for f in follows(company) if len(company.book.follows_of_customer(f.external_userid)) == 1)
    ext, userid = follow.external_userid, follow.userid
    new_tag = next(t for t in company.tags.tags if t not in follow.tag_ids)
    body = {"add": [new_tag], "remove": list(follow.tag_ids)}
    for _ in range(2):
        answer = call(api, "POST", f"/v1/customers/{ext}/tags", token, body)
        assert answer.status_code == 200, answer.body
        assert answer.json_body["relation"]["tags"] == [new_tag]
    assert company.book.follow(userid, ext).tag_ids == [new_tag]
    assert pairs(all_pages(api, token, f"tag={new_tag}&employee={userid}")).count((ext, userid)) == 1
    assert (ext, userid) not in pairs(all_pages(api, token, f"tag={new_tag}&tag_match=none&employee={userid}"))
    answer = call(api, "PATCH", f"/v1/customers/{ext}/remark", token, {"remark": "Zed VIP", "description": "d"})
    assert answer.status_code == 200, answer.body
    assert company.book.follow(userid, ext).remark == "Zed VIP"
    assert pairs(all_pages(api, token, "remark_prefix=zed")) == [(ext, userid)]
    assert call(api, "PATCH", f"/v1/customers/{ext}/remark", token, {"remark": "x" * 21}).status_code == 400
    company.book.remove_follow(userid, ext)
    gone = call(api, "PATCH", f"/v1/customers/{ext}/remark", token, {"remark": "again"})
    assert gone.status_code == 409
    assert "84061" in gone.json_body["Message"]


def test_tag_catalogue_create_rename_reorder_delete_and_the_3000_limit(synced, api):
    company, token = synced.company, synced.token
    created = call(api, "POST", "/v1/tags", token, {"group_name": "VIP", "tags": ["gold", "silver"]})
    assert created.status_code == 201, created.body
    group = created.json_body["group"]
    gold = next(t["tag_id"] for t in group["tags"] if t["name"] == "gold")
    assert call(api, "PATCH", f"/v1/tags/{gold}", token, {"name": "Gold", "order": 9}).status_code == 200
    catalogue = call(api, "GET", "/v1/tags", token).json_body
    vip = next(g for g in catalogue["groups"] if g["group_id"] == group["group_id"])
    assert {(t["name"], t["order"]) for t in vip["tags"]} >= {("Gold", 9)}
    assert catalogue["count"] == len(company.tags.tags)
    assert call(api, "PATCH", f"/v1/tag-groups/{group['group_id']}", token, {"order": 5}).status_code == 200
    assert call(api, "DELETE", f"/v1/tags/{gold}", token).status_code == 200
    assert gold not in company.tags.tags
    assert call(api, "DELETE", f"/v1/tags/{gold}", token).status_code == 404
    assert call(api, "DELETE", f"/v1/tag-groups/{group['group_id']}", token).status_code == 200
    assert call(api, "GET", "/v1/tags", token).json_body["count"] == len(company.tags.tags)
    fill_wecom_tags(company, 2999)
    assert call(api, "POST", "/v1/tags", token, {"group_name": "last", "tags": ["3000th"]}).status_code == 201
    full = call(api, "POST", "/v1/tags", token, {"group_name": "one more", "tags": ["x"]})
    assert full.status_code == 409
    assert "at most 3000" in full.json_body["Message"]
    assert len(company.tags.tags) == 3000


def fill_wecom_tags(company, total):
    """Tags made in WeCom's admin console (no callback in this test), up to `total`."""
    while len(company.tags.tags) < total:
        names = [(f"n{i}", 0) for i in range(min(100, total - len(company.tags.tags)))]
        company.tags.add("", f"g{len(company.tags.tags)}", 0, names, 0)


def test_wecom_refusing_the_3000th_tag_is_a_precise_409(synced, api, monkeypatch):
    from chalicelib.api import admin_tags

    monkeypatch.setattr(admin_tags, "CORP_TAGS_MAX", 10_000)
    fill_wecom_tags(synced.company, 3000)
    refused = call(api, "POST", "/v1/tags", synced.token, {"group_name": "over", "tags": ["x"]})
    assert refused.status_code == 409
    assert "40126" in refused.json_body["Message"]


def test_employees_with_customer_counts_and_departments(synced, api):
    company, token = synced.company, synced.token
    employees = call(api, "GET", "/v1/employees?limit=100", token).json_body["employees"]
    assert {e["userid"] for e in employees} == set(company.employees)
    for e in employees:
        assert e["customers"] == len(company.book.follows_of_user(e["userid"]))
        assert e["status"] == "active"
    departments = call(api, "GET", "/v1/departments", token).json_body["departments"]
    assert {d["id"] for d in departments} == set(company.departments)
    dept = company.employees[sorted(company.employees)[0]].departments[0]
    in_dept = call(api, "GET", f"/v1/employees?department={dept}", token).json_body["employees"]
    assert {e["userid"] for e in in_dept} == {u for u, e in company.employees.items() if dept in e.departments}
