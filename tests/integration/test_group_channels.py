"""Join ways (群活码) and group welcome templates against moto and the WeCom simulator: the admin API, WeCom's limits
and error codes (simulated as documented), new rooms when chats are full, and members attributed through the state."""

from __future__ import annotations

import pytest

from chalicelib.services import group_sync
from chalicelib.services.group_chats import apply_chat_event
from chalicelib.services.tenant_context import TenantContext
from chalicelib.services.tenant_wecom import tenant_wecom
from chalicelib.store.groups import GroupStore
from chalicelib.wecom.errors import WeComError
from local.wecom_sim import SimConfig
from tests.integration.sync_queue import drain_sync_queue

pytestmark = pytest.mark.filterwarnings("ignore:IAMAuthorizer is not a supported in local mode")

ROOM_FULL = 6


@pytest.fixture
def tenant(sim_tenant_factory):
    """A tenant whose group chats are synced; joining by QR code fills a chat at ROOM_FULL members."""
    tenant = sim_tenant_factory("jw-corp", config=SimConfig(seed=31, join_way_room_full=ROOM_FULL))
    group_sync.request_group_sync(tenant.tenant_id, "test")
    drain_sync_queue(lambda: 600_000.0)
    return tenant


def wecom_error(tenant, api, body) -> int:
    with pytest.raises(WeComError) as raised:
        tenant_wecom(tenant.tenant_id).post(api, body, retry_safe=True)
    return raised.value.errcode


def test_join_way_fills_its_chats_opens_new_rooms_and_attributes_members(tenant):
    company = tenant.company
    small = sorted(company.chats.values(), key=lambda c: len(c.members))[0]
    small.members = small.members[: ROOM_FULL - 1]
    body = {"name": "门店群码", "chat_ids": [small.chat_id], "room_base_name": "福利群", "room_base_id": 7}
    created = tenant.admin("POST", "/v1/join-ways", body)
    assert created.status_code == 201, created.body
    way = created.json_body["join_way"]
    wecom_way = company.join_ways[way["join_way_id"]]
    assert (wecom_way.state, wecom_way.chat_id_list, wecom_way.room_base_name) == (
        way["state"],
        [small.chat_id],
        "福利群",
    )
    assert way["qr_code"] == wecom_way.qr_code

    ctx = TenantContext(tenant.tenant_id)
    emitter = tenant.sim.emitter(company)
    events = []
    for _ in range(3):
        (event,) = tenant.play(emitter.group_joined_by_way(way["join_way_id"]))
        assert apply_chat_event(ctx, event)
        events.append(event)
    assert [e.change_type for e in events] == ["update", "create", "update"]
    new_room = events[1].chat_id
    assert company.chats[new_room].name == "福利群7"
    groups = GroupStore(tenant.tenant_id)
    assert groups.get_chat(new_room).states == frozenset({way["state"]})
    joined = {m.userid: m for c in (small.chat_id, new_room) for m in groups.members(c) if m.state == way["state"]}
    assert len(joined) == 3
    assert {m.join_scene for m in joined.values()} == {3}

    figures = tenant.admin("GET", f"/v1/join-ways/{way['join_way_id']}/figures").json_body
    assert figures["total"] == {"joins": 3, "quits": 0, "net": 3}

    renamed = tenant.admin("PATCH", f"/v1/join-ways/{way['join_way_id']}", {"name": "新群码"})
    assert renamed.status_code == 200, renamed.body
    assert renamed.json_body["join_way"]["chat_ids"] == [small.chat_id, new_room]
    assert wecom_way.chat_id_list == [small.chat_id, new_room]
    assert company.join_ways[way["join_way_id"]].remark == "新群码"
    assert company.join_ways[way["join_way_id"]].room_base_id == 8

    taken = tenant.admin("POST", "/v1/join-ways", {**body, "state": way["state"]})
    assert taken.status_code == 409
    assert tenant.admin("DELETE", f"/v1/join-ways/{way['join_way_id']}").status_code == 200
    assert way["join_way_id"] not in company.join_ways
    assert tenant.admin("GET", f"/v1/join-ways/{way['join_way_id']}").status_code == 404
    again = tenant.admin("POST", "/v1/join-ways", {**body, "state": way["state"]})
    assert again.status_code == 201, again.body


def test_join_way_limits_and_errors(tenant):
    chats = sorted(tenant.company.chats)
    six = (chats * 6)[:6]
    too_many = tenant.admin("POST", "/v1/join-ways", {"name": "x", "chat_ids": six, "room_base_name": "r"})
    assert too_many.status_code == 400
    unknown = tenant.admin("POST", "/v1/join-ways", {"name": "x", "chat_ids": ["wrNOPE"], "room_base_name": "r"})
    assert unknown.status_code == 400
    assert "40050" in unknown.json_body["Message"]
    no_base = tenant.admin("POST", "/v1/join-ways", {"name": "x", "chat_ids": chats[:1]})
    assert no_base.status_code == 400
    long_base = tenant.admin("POST", "/v1/join-ways", {"name": "x", "chat_ids": chats[:1], "room_base_name": "长" * 41})
    assert long_base.status_code == 400
    assert tenant.admin("GET", "/v1/join-ways").json_body == {"join_ways": []}

    api = "externalcontact/groupchat/add_join_way"
    distinct = [f"wr{n}" for n in range(6)]
    assert wecom_error(tenant, api, {"scene": 2, "chat_id_list": distinct}) == 41091
    assert wecom_error(tenant, api, {"chat_id_list": chats[:1]}) == 41038
    assert wecom_error(tenant, api, {"scene": 3, "chat_id_list": chats[:1]}) == 41040
    assert wecom_error(tenant, api, {"scene": 2, "chat_id_list": chats[:1], "state": "s" * 31}) == 40058
    assert wecom_error(tenant, api, {"scene": 2, "chat_id_list": chats[:1], "room_base_name": "长" * 41}) == 40058
    assert wecom_error(tenant, api, {"scene": 2, "chat_id_list": []}) == 40058
    assert wecom_error(tenant, "externalcontact/groupchat/get_join_way", {"config_id": "nope"}) == 41044
    assert wecom_error(tenant, "externalcontact/groupchat/del_join_way", {}) == 41043


def test_group_list_rules_81017_and_departed_owners(sim_tenant_factory):
    tenant = sim_tenant_factory("big-corp", employees=1001, customers=50)
    api = "externalcontact/groupchat/list"
    assert wecom_error(tenant, api, {"limit": 10}) == 81017
    owners = [f"emp{n:05d}" for n in range(101)]
    assert wecom_error(tenant, api, {"limit": 10, "owner_filter": {"userid_list": owners}}) == 40058
    assert wecom_error(tenant, api, {"limit": 1001, "owner_filter": {"userid_list": owners[:1]}}) == 40058
    chat = next(iter(tenant.company.chats.values()))
    tenant.company.employees[chat.owner].resigned_at = 1.0
    answer = tenant_wecom(tenant.tenant_id).post(
        api, {"limit": 1000, "owner_filter": {"userid_list": [chat.owner]}}, retry_safe=True
    )
    assert {"chat_id": chat.chat_id, "status": 1} in answer["group_chat_list"]
    waiting = tenant_wecom(tenant.tenant_id).post(
        api,
        {"limit": 1000, "status_filter": 1, "owner_filter": {"userid_list": [chat.owner, "emp00000"]}},
        retry_safe=True,
    )
    assert {c["chat_id"] for c in waiting["group_chat_list"]} == {
        c.chat_id for c in tenant.company.chats.values() if c.owner == chat.owner
    }


def link_material(tenant) -> str:
    body = {"type": "link", "title": "入群福利", "url": "https://shop.example.com/w"}
    created = tenant.admin("POST", "/v1/materials", body)
    assert created.status_code == 201, created.body
    return created.json_body["material"]["material_id"]


def test_group_welcome_templates_from_the_material_library(tenant):
    material = link_material(tenant)
    text = "欢迎 %NICKNAME% 加入！"
    created = tenant.admin(
        "POST", "/v1/group-welcome-templates", {"name": "门店", "text": text, "material_id": material}
    )
    assert created.status_code == 201, created.body
    template = created.json_body["template"]
    stored = tenant.company.group_welcome_templates[template["template_id"]]
    assert stored["text"] == {"content": text}
    assert stored["link"]["url"] == "https://shop.example.com/w"
    tid = template["template_id"]
    edited = tenant.admin("PATCH", f"/v1/group-welcome-templates/{tid}", {"material_id": ""})
    assert edited.status_code == 200, edited.body
    assert tenant.company.group_welcome_templates[tid] == {"text": {"content": text}}
    assert tenant.admin("GET", f"/v1/group-welcome-templates/{tid}").json_body["template"]["material_id"] is None
    assert tenant.admin("PATCH", f"/v1/group-welcome-templates/{tid}", {"text": ""}).status_code == 400
    too_long = {"name": "长", "text": "长" * 1001}
    assert tenant.admin("POST", "/v1/group-welcome-templates", too_long).status_code == 400
    unknown = {"name": "x", "material_id": "0" * 20}
    assert tenant.admin("POST", "/v1/group-welcome-templates", unknown).status_code == 400
    assert tenant.admin("POST", "/v1/group-welcome-templates", {"name": "empty"}).status_code == 400
    assert tenant.admin("DELETE", f"/v1/group-welcome-templates/{tid}").status_code == 200
    assert tid not in tenant.company.group_welcome_templates
    assert tenant.admin("GET", f"/v1/group-welcome-templates/{tid}").status_code == 404

    api = "externalcontact/group_welcome_template/add"
    assert wecom_error(tenant, api, {"text": {"content": "x"}, "image": {"media_id": "m"}, "link": {}}) == 40058
    assert wecom_error(tenant, api, {"text": {"content": "长" * 1001}}) == 40058
    assert wecom_error(tenant, "externalcontact/group_welcome_template/get", {"template_id": "nope"}) == 40058
    for n in range(100):
        tenant.company.group_welcome_templates[f"full{n}"] = {"text": {"content": "x"}}
    assert wecom_error(tenant, api, {"text": {"content": "x"}}) == 41055
    assert tenant.admin("POST", "/v1/group-welcome-templates", {"name": "x", "text": "x"}).status_code == 409
