"""The group-chat sync and change_external_chat events against moto and the WeCom simulator: every chat and member
loaded (departed owners included), resumable, incremental, reconciled; events applied in member-version order."""

from __future__ import annotations

import pytest

from chalicelib.domain.audience import Employee
from chalicelib.domain.group_chats import Scope, local_day
from chalicelib.services import group_sync
from chalicelib.services.group_chats import apply_chat_event
from chalicelib.services.tenant_context import TenantContext
from chalicelib.store.customer_directory import CustomerDirectory
from chalicelib.store.customer_profiles import CustomerProfile
from chalicelib.store.customers import CustomerStore
from chalicelib.store.groups import DISMISSED, GroupStore
from chalicelib.store.sync_runs import DONE, GROUP_RUN, SyncRuns
from local.wecom_sim import SimConfig
from tests.integration.sync_queue import drain_sync_queue

pytestmark = pytest.mark.filterwarnings("ignore:IAMAuthorizer is not a supported in local mode")

LONG = 600_000.0


@pytest.fixture
def groups_tenant(sim_tenant_factory):
    """12 employees, 300 customers, 6 group chats; one owner has departed (in WeCom and in the store)."""
    tenant = sim_tenant_factory("grp-corp", config=SimConfig(seed=29, join_way_room_full=4))
    company = tenant.company
    leaver = sorted({c.owner for c in company.chats.values()})[0]
    company.employees[leaver].resigned_at = 1.0
    CustomerStore(tenant.tenant_id).put_employees(
        Employee(u, department_ids=tuple(e.departments), active=e.active) for u, e in company.employees.items()
    )
    tenant.leaver = leaver
    return tenant


def stored_members(tenant_id, chat_id):
    return {m.userid: m for m in GroupStore(tenant_id).members(chat_id)}


def assert_matches_wecom(tenant, chat_ids=None):
    groups = GroupStore(tenant.tenant_id)
    for chat in tenant.company.chats.values():
        if chat_ids is not None and chat.chat_id not in chat_ids:
            continue
        stored = groups.get_chat(chat.chat_id)
        assert stored is not None, chat.chat_id
        assert (stored.owner, stored.name, stored.member_version) == (chat.owner, chat.name, chat.member_version)
        members = stored_members(tenant.tenant_id, chat.chat_id)
        assert set(members) == {m.userid for m in chat.members}
        for m in chat.members:
            got = members[m.userid]
            assert (got.type, got.join_time, got.join_scene, got.invitor, got.state) == (
                m.type,
                m.join_time,
                m.join_scene,
                m.invitor,
                m.state,
            )


def test_full_sync_loads_every_chat_and_member_with_departed_owners(groups_tenant):
    tenant = groups_tenant
    run = group_sync.request_group_sync(tenant.tenant_id, "test")
    drain_sync_queue(lambda: LONG)
    assert_matches_wecom(tenant)
    status = SyncRuns(tenant.tenant_id, kind=GROUP_RUN).current()
    assert (status.run_id, status.status) == (run.run_id, DONE)
    chats = len(tenant.company.chats)
    assert status.counts["chats"] == status.counts["chats_written"] == chats
    assert status.counts["members"] == sum(len(c.members) for c in tenant.company.chats.values())
    assert status.counts["wecom_calls"] == 1 + 1 + chats
    leaver_chats = [c for c in tenant.company.chats.values() if c.owner == tenant.leaver]
    assert leaver_chats
    stored = GroupStore(tenant.tenant_id).get_chat(leaver_chats[0].chat_id)
    assert stored.inherit_status == 1
    assert stored.as_dict()["inherit_status"] == "waiting"


def test_a_sync_cut_short_by_its_time_budget_continues_to_the_same_data(groups_tenant, monkeypatch):
    monkeypatch.setattr(group_sync.rules, "RESERVE_MS", 0)
    group_sync.request_group_sync(groups_tenant.tenant_id, "test")
    invocations = drain_sync_queue(lambda: 0.0)
    assert invocations >= len(groups_tenant.company.chats)
    assert_matches_wecom(groups_tenant)
    status = SyncRuns(groups_tenant.tenant_id, kind=GROUP_RUN).current()
    assert status.status == DONE
    assert status.counts["chats_written"] == len(groups_tenant.company.chats)


def test_a_second_sync_writes_only_changes_and_reconciles_dismissed_chats(groups_tenant):
    tenant = groups_tenant
    group_sync.request_group_sync(tenant.tenant_id, "first")
    drain_sync_queue(lambda: LONG)
    company = tenant.company
    gone = sorted(c for c, chat in company.chats.items() if chat.owner != tenant.leaver)[0]
    del company.chats[gone]
    group_sync.request_group_sync(tenant.tenant_id, "second")
    drain_sync_queue(lambda: LONG)
    status = SyncRuns(tenant.tenant_id, kind=GROUP_RUN).current()
    assert status.counts["chats_written"] == 0
    assert status.counts["dismissed"] == 1
    assert GroupStore(tenant.tenant_id).get_chat(gone).status == DISMISSED
    assert_matches_wecom(tenant)


def test_daily_figures_count_joins_and_quits(groups_tenant):
    tenant = groups_tenant
    group_sync.request_group_sync(tenant.tenant_id, "first")
    drain_sync_queue(lambda: LONG)
    chat = next(c for c in tenant.company.chats.values() if c.owner != tenant.leaver)
    customers = [m for m in chat.members if m.type == 2]
    rows = GroupStore(tenant.tenant_id).daily(Scope.CHAT, chat.chat_id, "2000-01-01", "2999-12-31")
    assert sum(j for _, j, _ in rows) == len(customers)
    assert {d for d, _, _ in rows} == {local_day(m.join_time) for m in customers}
    owner_rows = GroupStore(tenant.tenant_id).daily(Scope.OWNER, chat.owner, "2000-01-01", "2999-12-31")
    owned = [c for c in tenant.company.chats.values() if c.owner == chat.owner]
    assert sum(j for _, j, _ in owner_rows) == sum(1 for c in owned for m in c.members if m.type == 2)


def test_events_apply_in_member_version_order(groups_tenant):
    tenant = groups_tenant
    ctx = TenantContext(tenant.tenant_id)
    emitter = tenant.sim.emitter(tenant.company)
    owner = next(u for u in sorted(tenant.company.employees) if u != tenant.leaver)
    (created,) = tenant.play(emitter.group_created(owner, customers=3))

    def calls() -> int:
        return tenant.stats()["codes"].get("externalcontact/groupchat/get", {}).get("0", 0)

    assert apply_chat_event(ctx, created)
    (joined,) = tenant.play(emitter.group_members_joined(created.chat_id, customers=2))
    (quit_one,) = tenant.play(emitter.group_members_quit(created.chat_id, customers=1))
    before = calls()
    # the quit arrives before the join: the version it starts from was missed, so the chat is read again
    assert apply_chat_event(ctx, quit_one)
    assert calls() == before + 1
    # the join made a version the store has moved past: read again, nothing changes
    assert not apply_chat_event(ctx, joined)
    assert_matches_wecom(tenant, {created.chat_id})
    # a del_member on the stored version is applied without asking WeCom, and its repeat is skipped
    (quit_two,) = tenant.play(emitter.group_members_quit(created.chat_id, customers=1))
    settled = calls()
    assert apply_chat_event(ctx, quit_two)
    assert not apply_chat_event(ctx, quit_two)
    assert calls() == settled
    assert_matches_wecom(tenant, {created.chat_id})
    today = local_day(quit_two.create_time)
    rows = GroupStore(tenant.tenant_id).daily(Scope.CHAT, created.chat_id, today, today)
    assert len(rows) == 1
    assert rows[0][2] >= 2
    (dismissed,) = tenant.play(emitter.group_dismissed(created.chat_id))
    assert apply_chat_event(ctx, dismissed)
    assert GroupStore(tenant.tenant_id).get_chat(created.chat_id).status == DISMISSED


def test_admin_api_lists_groups_by_owner_department_status_and_name_and_shows_members(groups_tenant):
    tenant = groups_tenant
    started = tenant.admin("POST", "/v1/groups/sync")
    assert started.status_code == 202, started.body
    assert tenant.admin("POST", "/v1/groups/sync").status_code == 409
    drain_sync_queue(lambda: LONG)
    assert tenant.admin("GET", "/v1/groups/sync").json_body["run"]["status"] == DONE
    company = tenant.company
    every = []
    cursor = None
    while True:
        page = tenant.admin("GET", "/v1/groups?limit=4" + (f"&cursor={cursor}" if cursor else "")).json_body
        every.extend(g["chat_id"] for g in page["groups"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(every) == sorted(company.chats)
    chat = next(c for c in company.chats.values() if c.owner != tenant.leaver)
    by_owner = tenant.admin("GET", f"/v1/groups?owner={chat.owner}").json_body["groups"]
    assert {g["chat_id"] for g in by_owner} == {c.chat_id for c in company.chats.values() if c.owner == chat.owner}
    named = tenant.admin("GET", f"/v1/groups?name_prefix={chat.name}").json_body["groups"]
    assert chat.chat_id in {g["chat_id"] for g in named}
    assert all(g["name"].startswith(chat.name) for g in named)
    waiting = tenant.admin("GET", "/v1/groups?status=waiting").json_body["groups"]
    assert {g["chat_id"] for g in waiting} == {c.chat_id for c in company.chats.values() if c.owner == tenant.leaver}
    department = company.employees[chat.owner].departments[0]
    in_department = {u for u, e in company.employees.items() if department in e.departments}
    listed, cursor = [], None
    while True:
        query = f"/v1/groups?department={department}&limit=1" + (f"&cursor={cursor}" if cursor else "")
        page = tenant.admin("GET", query).json_body
        listed.extend(g["chat_id"] for g in page["groups"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(listed) == sorted(c.chat_id for c in company.chats.values() if c.owner in in_department)
    assert tenant.admin("GET", "/v1/groups?status=nope").status_code == 400
    assert tenant.admin("GET", "/v1/groups?cursor=bm9wZQ").status_code == 400
    assert tenant.admin("GET", "/v1/groups?owner=a&department=2").status_code == 400

    detail = tenant.admin("GET", f"/v1/groups/{chat.chat_id}").json_body
    assert detail["group"]["member_count"] == len(chat.members)
    customers = [m for m in detail["members"] if m["type"] == "customer"]
    assert len(customers) == sum(1 for m in chat.members if m.type == 2)
    assert all(m["customer"] is None for m in customers)
    known = customers[0]["userid"]
    CustomerDirectory(tenant.tenant_id).put_profiles([CustomerProfile(known, 1, name="王芳")])
    detail = tenant.admin("GET", f"/v1/groups/{chat.chat_id}").json_body
    linked = {m["userid"]: m["customer"] for m in detail["members"] if m["type"] == "customer"}
    assert linked[known] == {"name": "王芳", "path": f"/v1/customers/{known}"}
    assert tenant.admin("GET", "/v1/groups/nope").status_code == 404
    figures = tenant.admin("GET", f"/v1/groups/{chat.chat_id}/figures?from=2000-01-01&to=2099-12-31")
    assert figures.status_code == 400
    first = min(local_day(m.join_time) for m in chat.members)
    figures = tenant.admin("GET", f"/v1/groups/{chat.chat_id}/figures?from={first}&to={first}").json_body
    assert figures["total"]["joins"] == sum(1 for m in chat.members if m.type == 2 and local_day(m.join_time) == first)
    owner = tenant.admin("GET", f"/v1/group-owners/{chat.owner}/figures?from={first}&to={first}").json_body
    assert owner["total"]["joins"] >= figures["total"]["joins"]
