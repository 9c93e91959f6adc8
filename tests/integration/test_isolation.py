"""Tenant isolation, proven over every admin route the app registers.

Two tenants share their corp id and, where ids are chosen by us, their resource ids. Tenant A's admin key is sent to
every admin route with tenant B's resource ids: each answers 404 (or A's own resource where the id overlaps) and no
answer contains anything of B's. A route added later with a new path parameter fails here until a B-only resource for
that parameter is listed in B_ONLY_IDS; a route with a new body class fails until SAMPLE_BODIES has a valid body.
"""

import dataclasses
import itertools
import re

import pytest

from app import app
from chalicelib.api import openapi
from chalicelib.api.admin_access import CreateApiKey
from chalicelib.api.admin_acquisition import AlertRecipients, CreateLink, UpdateLink
from chalicelib.api.admin_broadcast_policy import BroadcastPolicyBody
from chalicelib.api.admin_broadcasts import CreateBroadcast, PreviewBody
from chalicelib.api.admin_channels import CreateChannel, UpdateChannel, WelcomeBody
from chalicelib.api.admin_customers import ChangeTags, EditRemark
from chalicelib.api.admin_group_welcome import CreateTemplate, EditTemplate
from chalicelib.api.admin_join_ways import CreateJoinWay, UpdateJoinWay
from chalicelib.api.admin_lifecycle import PolicyBody, TransferBody
from chalicelib.api.admin_materials import CreateMaterial, UpdateMaterial
from chalicelib.api.admin_moments import CreateMoment
from chalicelib.api.admin_tags import CreateTags, EditTag
from chalicelib.api.admin_tracking import CreateShare, MaterialTracking, Origins, RotateKeys
from chalicelib.api.admin_wechat import WeChatAppsBody
from chalicelib.store import api_keys
from chalicelib.store.keys import InvalidTenantId
from local.wecom_sim import SimConfig
from tests.tenancy import call, create_tenant

pytestmark = pytest.mark.filterwarnings("ignore:IAMAuthorizer is not a supported in local mode")

SHARED_KEY_ID = "aaaaaaaaaaaa"
B_ONLY_KEY_ID = "bbbbbbbbbbbb"
B_ONLY_IDS = {
    "key_id": B_ONLY_KEY_ID,
    "material_id": "0000000000bb00000000",
    "channel_id": "channel-of-b",
    "link_id": "link-of-b",
    "moment_task_id": "mt00000000000000000bbb",
    "employee_userid": "userid-of-b",
    "broadcast_id": "bc0000000000000bbbbbbbb",
    "customer_id": "wm-customer-of-b",
    "tag_id": "tag-of-b",
    "group_id": "group-of-b",
    "userid": "userid-of-b",
    "chat_id": "chat-of-b",
    "join_way_id": "joinway-of-b",
    "template_id": "template-of-b",
}
SAMPLE_BODIES = {
    CreateApiKey: {"role": "viewer", "label": "made by a"},
    CreateMaterial: {"type": "link", "title": "made by a", "url": "https://a.example.com"},
    UpdateMaterial: {"title": "edited by a"},
    CreateChannel: {"name": "made by a", "userids": ["emp00001"], "welcome_text": "hello from a"},
    UpdateChannel: {"name": "edited by a"},
    CreateLink: {"name": "made by a", "userids": ["emp00001"], "welcome_text": "hello from a"},
    UpdateLink: {"name": "edited by a"},
    AlertRecipients: {"userids": ["emp00001"]},
    CreateMoment: {"text": "made by a", "userids": ["emp00001"]},
    WelcomeBody: {"text": "hello from a"},
    PolicyBody: {"successor_rule": "round_robin"},
    CreateBroadcast: {"text": "made by a", "audience": {"all_customers": True}, "draft": True},
    PreviewBody: {"audience": {"all_customers": True}},
    BroadcastPolicyBody: {"follow_hours": 48},
    TransferBody: {"handover_userid": "emp00001", "takeover_userid": "emp00002", "external_userids": ["wmNOBODY"]},
    ChangeTags: {"add": ["tag-of-a"]},
    EditRemark: {"remark": "edited by a"},
    CreateTags: {"group_name": "made by a", "tags": ["a1"]},
    EditTag: {"name": "edited by a"},
    CreateJoinWay: {"name": "made by a", "chat_ids": ["chat-of-a"], "room_base_name": "a"},
    UpdateJoinWay: {"name": "edited by a"},
    CreateTemplate: {"name": "made by a", "text": "hello from a"},
    EditTemplate: {"name": "edited by a"},
    WeChatAppsBody: {"allow_userinfo": False},
    CreateShare: {"material_id": "set by the fixture to a material of A", "sharer": "emp00001"},
    RotateKeys: {"invalidate_old": False},
    MaterialTracking: {"auto_tag_ids": [], "tracked": True},
    Origins: {"origins": ["https://a.example.com"]},
}
B_MARKERS = ("tenant-b", B_ONLY_KEY_ID, "label-of-b", "userid-of-b")


@pytest.fixture
def two_tenants(sim_tenant_factory, monkeypatch):
    """Tenants `tenant-a` and `tenant-b` of one simulated company (WeCom for the routes that call it), their admin keys
    sharing an id, and a key only B has. A is on a plan with every feature, so that no route answers "pay first"
    before it could leak. Returns the app's test client and both admin tokens."""
    ids = itertools.chain([SHARED_KEY_ID, SHARED_KEY_ID, B_ONLY_KEY_ID], (f"{n:012x}" for n in itertools.count(1)))
    monkeypatch.setattr(api_keys, "new_key_id", lambda: next(ids))
    tenant_a = sim_tenant_factory(
        "tenant-a", config=SimConfig(seed=11), employees=4, customers=10, tags=2, plan="pro", paid_days=30
    )
    api, company = tenant_a.api, tenant_a.company
    company.chats["chat-of-a"] = dataclasses.replace(next(iter(company.chats.values())), chat_id="chat-of-a")
    corp = {"corp_id": company.corpid, "agent_id": company.agent_id, "app_secret": company.secret}
    a = tenant_a.token
    b = create_tenant(api, tenant_id="tenant-b", **corp)["admin_key"]["token"]
    b_only = call(
        api, "POST", "/v1/api-keys", b, {"role": "sales", "employee_userid": "userid-of-b", "label": "label-of-b"}
    )
    assert b_only.json_body["key"]["key_id"] == B_ONLY_KEY_ID
    assert a.split(".")[2] == b.split(".")[2] == SHARED_KEY_ID
    material = call(api, "POST", "/v1/materials", a, SAMPLE_BODIES[CreateMaterial]).json_body["material"]
    monkeypatch.setitem(
        SAMPLE_BODIES, CreateShare, {**SAMPLE_BODIES[CreateShare], "material_id": material["material_id"]}
    )
    return api, a, b


def admin_routes():
    return sorted(
        (method, path) for path, methods in app.routes.items() if path.startswith("/v1/") for method in methods
    )


def b_state(api, b):
    return call(api, "GET", "/v1/api-keys", b).json_body, call(api, "GET", "/v1/audit?limit=100", b).json_body


def test_tenant_a_cannot_reach_or_see_tenant_b_through_any_admin_route(two_tenants):
    api, a, b = two_tenants
    before = b_state(api, b)
    routes = admin_routes()
    assert len(routes) >= 7
    for method, path in routes:
        params = re.findall(r"{(\w+)}", path)
        missing = [p for p in params if p not in B_ONLY_IDS]
        assert not missing, f"{method} {path}: list a B-only resource for {missing} in B_ONLY_IDS"
        body_class = openapi.REGISTRY[(method, path)].body
        assert body_class is None or body_class in SAMPLE_BODIES, f"{method} {path}: add a SAMPLE_BODIES entry"
        body = SAMPLE_BODIES.get(body_class)
        response = call(api, method, path.format(**B_ONLY_IDS), a, body)
        text = response.body.decode()
        for marker in B_MARKERS:
            assert marker not in text, (method, path, marker)
        if params:
            assert response.status_code == 404, (method, path, response.status_code)
            assert response.json_body["Code"] == "NotFoundError"
        else:
            assert response.status_code < 400, (method, path, text)
    after = b_state(api, b)
    assert after == before


def test_overlapping_ids_resolve_inside_the_callers_tenant(two_tenants):
    api, a, b = two_tenants
    for token, tenant in ((a, "tenant-a"), (b, "tenant-b")):
        key = call(api, "GET", f"/v1/api-keys/{SHARED_KEY_ID}", token).json_body["key"]
        assert key["prefix"] == f"qrk.{tenant}.{SHARED_KEY_ID}"
    a_secret = a.split(".")[3]
    assert call(api, "GET", "/v1/me", f"qrk.tenant-b.{SHARED_KEY_ID}.{a_secret}").status_code == 403
    assert call(api, "GET", "/v1/me", a).json_body["tenant_id"] == "tenant-a"


def test_a_repository_is_bound_to_one_well_formed_tenant():
    with pytest.raises(InvalidTenantId):
        api_keys.ApiKeys("tenant-b#apikey")
