"""Acquisition links (获客助手) on moto with the simulator as WeCom: CRUD in step with WeCom, campaigns attributed by
`state` through the channels' new-friend path (welcome, auto-tags, figures), quota, statistic, events and alerts."""

from __future__ import annotations

import uuid

import pytest

from chalicelib import resources
from chalicelib.domain.acquisition import UNAVAILABLE
from chalicelib.store.acquisition_links import AcquisitionLinkStore
from chalicelib.store.customers import CustomerStore
from chalicelib.wecom.events import CustomerAcquisitionEvent
from chalicelib.workers.events import EventWorker, RealtimeWorker
from local.wecom_sim.config import SimConfig
from tests.integration.event_records import forwarded_records, sqs_record
from tests.tenancy import SimTenant

pytestmark = pytest.mark.filterwarnings("ignore:IAMAuthorizer is not a supported in local mode")

WELCOME = "感谢您通过广告添加我们！"
SPRING = "春季活动欢迎您"


def run(tenant: SimTenant, events, queue=resources.EVENTS_REALTIME) -> list:
    records = [sqs_record(e, tenant.tenant_id, f"m-{uuid.uuid4().hex[:8]}") for e in events]
    if queue is resources.EVENTS:
        return EventWorker(queue).run(records)["batchItemFailures"]
    return (
        RealtimeWorker().run(records)["batchItemFailures"]
        + EventWorker(resources.EVENTS).run(forwarded_records())["batchItemFailures"]
    )


@pytest.fixture
def acq_tenant(sim_tenant_factory) -> SimTenant:
    return sim_tenant_factory(
        "acq-corp", config=SimConfig(seed=5, acquisition_quota=30, acquisition_links_max=2), employees=8, customers=40
    )


def make_link(tenant: SimTenant, **extra) -> dict:
    tag_ids = sorted(tenant.company.tags.tags)
    body = {
        "name": "抖音广告",
        "userids": ["emp00001", "emp00002"],
        "auto_tag_ids": [tag_ids[0]],
        "welcome_text": WELCOME,
        "campaigns": [{"name": "spring", "auto_tag_ids": [tag_ids[1]], "welcome_text": SPRING}],
        **extra,
    }
    created = tenant.admin("POST", "/v1/acquisition-links", body)
    assert created.status_code == 201, created.body
    return created.json_body["link"]


def test_a_link_is_created_changed_and_deleted_in_step_with_wecom(acq_tenant: SimTenant):
    links = acq_tenant.company.acquisition.links
    link = make_link(acq_tenant)
    wecom = links[link["link_id"]]
    assert (wecom.name, wecom.users, wecom.skip_verify) == ("抖音广告", ["emp00001", "emp00002"], True)
    campaigns = {c["campaign"]: c for c in link["campaigns"]}
    assert set(campaigns) == {"default", "spring"}
    for campaign in campaigns.values():
        assert campaign["url"] == f"{wecom.url}?customer_channel={campaign['state']}"
    assert campaigns["spring"]["welcome"]["text"] == SPRING
    assert acq_tenant.admin("GET", "/v1/channels").json_body["channels"] == [], "campaigns are not 联系我 channels"

    path = f"/v1/acquisition-links/{link['link_id']}"
    changed = acq_tenant.admin(
        "PATCH", path, {"userids": ["emp00003"], "skip_verify": False, "add_campaigns": [{"name": "sms"}]}
    )
    assert changed.status_code == 200, changed.body
    assert (wecom.users, wecom.skip_verify) == (["emp00003"], False)
    assert {c["campaign"] for c in changed.json_body["link"]["campaigns"]} == {"default", "spring", "sms"}
    listed = acq_tenant.admin("GET", "/v1/acquisition-links").json_body["links"]
    assert [x["link_id"] for x in listed] == [link["link_id"]]

    assert acq_tenant.admin("DELETE", path).status_code == 200
    assert link["link_id"] not in links
    assert acq_tenant.admin("GET", path).status_code == 404
    assert acq_tenant.admin("GET", "/v1/acquisition-links").json_body["links"] == []


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"name": "A"}, 400, "at least one employee"),
        ({"name": "A" * 31, "userids": ["emp00001"]}, 400, "name"),
        ({"name": "A", "userids": ["nobody"]}, 400, "errcode 40003"),
        ({"name": "A", "userids": [f"u{i}" for i in range(501)]}, 400, "userids"),
        ({"name": "A", "userids": ["emp00001"], "campaigns": [{"name": "default"}]}, 400, "campaign names"),
    ],
)
def test_invalid_links_are_refused_and_nothing_stays_behind(acq_tenant: SimTenant, body, status, fragment):
    response = acq_tenant.admin("POST", "/v1/acquisition-links", body)
    assert response.status_code == status
    assert fragment in response.json_body["Message"]
    assert acq_tenant.company.acquisition.links == {}
    assert acq_tenant.admin("GET", "/v1/acquisition-links").json_body["links"] == []


def test_wecoms_link_cap_is_a_conflict(acq_tenant: SimTenant):
    make_link(acq_tenant)
    make_link(acq_tenant, campaigns=[])
    refused = acq_tenant.admin("POST", "/v1/acquisition-links", {"name": "third", "userids": ["emp00001"]})
    assert refused.status_code == 409
    assert "41095" in refused.json_body["Message"]


def test_a_new_friend_through_a_campaign_gets_its_welcome_and_tags_and_counts(acq_tenant: SimTenant):
    link = make_link(acq_tenant)
    spring = next(c for c in link["campaigns"] if c["campaign"] == "spring")
    emitter = acq_tenant.sim.emitter(acq_tenant.company)
    events = acq_tenant.play(emitter.link_friends(link["link_id"], 2, customer_channel=spring["state"]))
    assert run(acq_tenant, events) == []

    company = acq_tenant.company
    for event in events:
        assert company.welcome.codes[event.welcome_code].sent["text"] == {"content": SPRING}
        follow = company.book.follow(event.user_id, event.external_user_id)
        assert set(spring["auto_tag_ids"]) <= set(follow.tag_ids)
        (stored,) = CustomerStore(acq_tenant.tenant_id).get_follows(event.external_user_id)
        assert stored.state == spring["state"]
    view = acq_tenant.admin("GET", f"/v1/acquisition-links/{link['link_id']}?days=7").json_body["link"]
    assert view["statistic"] == {"days": 7, "clicks": 2, "new_customers": 2}
    figures = {c["campaign"]: c["figures"] for c in view["campaigns"]}
    assert figures["spring"]["friends_added"] == 2
    assert figures["spring"]["retention"] == [
        {"days": 7, "eligible": 0, "still_friends": 0},
        {"days": 30, "eligible": 0, "still_friends": 0},
    ]
    assert figures["default"]["friends_added"] == 0
    path = f"/v1/acquisition-links/{link['link_id']}/customers"
    first = acq_tenant.admin("GET", f"{path}?limit=1").json_body
    rest = acq_tenant.admin("GET", f"{path}?cursor={first['next_cursor']}").json_body
    listed = first["customers"] + rest["customers"]
    assert sorted(c["external_userid"] for c in listed) == sorted(e.external_user_id for e in events)
    assert {(c["state"], c["chat_status"]) for c in listed} == {(spring["state"], 0)}
    quota = acq_tenant.admin("GET", "/v1/acquisition-quota").json_body["quota"]
    assert (quota["total"], quota["balance"]) == (30, 28)

    default = next(c for c in link["campaigns"] if c["campaign"] == "default")
    (default_friend,) = acq_tenant.play(emitter.link_friends(link["link_id"], 1, customer_channel=default["state"]))
    assert run(acq_tenant, [default_friend]) == []
    assert company.welcome.codes[default_friend.welcome_code].sent["text"] == {"content": WELCOME}


def test_acquisition_events_mark_the_link_and_alert_the_tenants_recipients(acq_tenant: SimTenant):
    link = make_link(acq_tenant)
    assert acq_tenant.admin("PUT", "/v1/acquisition-alerts", {"userids": ["emp00004", "emp00005"]}).status_code == 200
    emitter = acq_tenant.sim.emitter(acq_tenant.company)
    state = next(c for c in link["campaigns"] if c["campaign"] == "default")["state"]
    (friend,) = acq_tenant.play(emitter.link_friends(link["link_id"], 1, customer_channel=state))
    assert run(acq_tenant, [friend]) == []

    (chat,) = acq_tenant.play(emitter.customer_started_chat(link["link_id"], friend.external_user_id))
    (low,) = acq_tenant.play(emitter.acquisition_event("balance_low"))
    (broken,) = acq_tenant.play(emitter.acquisition_event("link_unavailable", link["link_id"]))
    assert all(isinstance(e, CustomerAcquisitionEvent) for e in (chat, low, broken))
    assert run(acq_tenant, [chat, low, broken], resources.EVENTS) == []

    stored = AcquisitionLinkStore(acq_tenant.tenant_id).get(link["link_id"])
    assert (stored.status, stored.chats_started, stored.last_event) == (UNAVAILABLE, 1, "link_unavailable")
    app = acq_tenant.stats()["app_messages"]
    assert app["delivered"] == 4, "two alerts to two recipients each"
