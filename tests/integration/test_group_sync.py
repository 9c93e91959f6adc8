"""The group-chat sync and change_external_chat events against moto and the WeCom simulator: every chat and member
loaded (departed owners included), resumable, incremental, reconciled; events applied in member-version order."""

from __future__ import annotations

import pytest

from chalicelib.domain.audience import Employee
from chalicelib.domain.group_chats import Scope, local_day
from chalicelib.services import group_sync
from chalicelib.services.group_chats import apply_chat_event
from chalicelib.services.tenant_context import TenantContext
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
    CustomerStore(tenant.tenant_id).put_employees(Employee(u, active=e.active) for u, e in company.employees.items())
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
