"""Share links, beacon intake, ingest and alerts on moto with the WeCom simulator."""

from __future__ import annotations

import json
import time

import pytest

from chalicelib import resources
from chalicelib.domain import materials as rules
from chalicelib.domain import signed_tokens, view_alerts
from chalicelib.domain.beacons import view_id
from chalicelib.domain.signed_tokens import SalesLinkClaims
from chalicelib.domain.view_alerts import Budget
from chalicelib.services import beacon_ingest, beacon_intake, share_links, tracked_links
from chalicelib.services import view_alerts as alert_service
from chalicelib.store.alert_state import AlertState, forget_reservations
from chalicelib.store.materials import MaterialStore
from chalicelib.store.tracking import MATERIAL, TrackingStore
from local.wecom_sim import SimConfig
from tests.integration.tracking_helpers import (
    PAGE_ORIGIN,
    alert,
    delayed_messages,
    ingest,
    post_beacons,
    process,
    queued,
    reading,
    viewer_token,
)
from tests.tenancy import call

pytestmark = pytest.mark.filterwarnings("ignore:IAMAuthorizer is not a supported in local mode")


@pytest.fixture
def tracked(sim_tenant_factory, monkeypatch):
    """A tenant on the simulator with a link material, and fresh process caches."""
    monkeypatch.setenv("PUBLIC_BASE_URL", PAGE_ORIGIN)
    share_links._rings.forget()
    beacon_ingest.forget_lookups()
    forget_reservations()
    tracked_links.forget_tracked()
    beacon_intake._window_limits.clear()
    tenant = sim_tenant_factory("shop", config=SimConfig(seed=7), employees=3, customers=10, customers_in_store=True)
    material = MaterialStore(tenant.tenant_id).put(
        rules.MaterialSpec(type="link", title="春季手册", url="https://shop.example.com/a"), None, time.time()
    )
    tenant.material_id = material.material_id
    tenant.sharer = sorted(tenant.company.employees)[0]
    yield tenant
    share_links._rings.forget()


def share(tenant, sharer=None, campaign=None, token=None):
    body = {"material_id": tenant.material_id, "sharer": sharer or tenant.sharer}
    if campaign:
        body["campaign"] = campaign
    answer = call(tenant.api, "POST", "/v1/shares", token or tenant.token, body)
    assert answer.status_code == 201, answer.body
    return answer.json_body


def inbox(tenant):
    return tenant.stats()["app_messages"]["inbox"]


def test_intake_rejects_bad_events_with_reasons_and_queues_the_rest(tracked):
    link = share(tracked)
    now = int(time.time() * 1000)
    body = {
        "share": link["token"],
        "session": "sess-0001",
        "events": [
            {"seq": 0, "type": "open", "at": now},
            {"seq": 1, "type": "wink", "at": now},
            {"seq": 2, "type": "heartbeat", "at": now + 3_600_000, "visible_ms": 5000},
            {"seq": 3, "type": "heartbeat", "at": now - 3 * 86_400_000, "visible_ms": 5000},
            {"seq": 0, "type": "heartbeat", "at": now, "visible_ms": 5000},
            {"seq": 5, "type": "scroll", "at": now, "depth": 140},
            {"seq": 6, "type": "action", "at": now, "action": "forward"},
            {"seq": "7", "type": "open", "at": now},
            "not an event",
        ],
    }
    answer = post_beacons(tracked.api, body)
    assert answer.status_code == 202, answer.body
    assert answer.headers["Access-Control-Allow-Origin"] == PAGE_ORIGIN
    reasons = {(r["seq"], r["reason"]) for r in answer.json_body["rejected"]}
    assert answer.json_body["accepted"] == 2
    assert reasons == {
        (1, "unknown event type"),
        (2, "timestamp in the future"),
        (3, "timestamp too old"),
        (0, "duplicate seq in the batch"),
        (5, "'depth' must be 0 to 100"),
        (None, "'seq' must be an integer from 0"),
    }
    records = queued()
    assert len(records) == 1
    assert [e[0] for e in json.loads(records[0]["body"])["events"]] == [0, 6]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("{not json", 400),
        ('{"share": "x", "session": "sess-0001", "events": []}', 400),
        (
            json.dumps(
                {
                    "share": "s.1.eyJ0IjoiYWNtZSJ9.AAAAAAAAAAAAAAAAAAAAAA",
                    "session": "sess-0001",
                    "events": [{"seq": 0, "type": "open", "at": 1}],
                }
            ),
            404,
        ),
        ("[" * 3000 + "]" * 3000, 400),
        ("[" * 9000 + "]" * 9000, 413),
    ],
)
def test_intake_refuses_hostile_bodies_whole(tracked, body, status):
    answer = post_beacons(tracked.api, body)
    assert answer.status_code == status
    assert answer.json_body["Message"]
    assert queued() == []


def test_intake_limits_and_origins(tracked, monkeypatch):
    link = share(tracked)
    now = int(time.time() * 1000)
    body = {"share": link["token"], "session": "sess-0002", "events": [{"seq": 0, "type": "open", "at": now}]}
    assert post_beacons(tracked.api, body, origin="https://evil.example.com").status_code == 403
    assert post_beacons(tracked.api, body, origin=None).status_code == 202
    assert (
        call(tracked.api, "PUT", "/v1/tracking/origins", tracked.token, {"origins": ["https://m.shop.cn"]}).status_code
        == 200
    )
    assert post_beacons(tracked.api, body, origin="https://m.shop.cn").status_code == 202
    monkeypatch.setattr(beacon_intake.window_limit("session"), "limit", 2)
    assert post_beacons(tracked.api, body).status_code == 429
    assert len(queued()) == 2


def test_ingest_folds_a_reading_into_one_view_and_redelivery_changes_nothing(tracked):
    link = share(tracked, campaign="bc-42")
    start = int(time.time() * 1000) - 60_000
    batches = [reading(start, 4), reading(start + 20_000, 4, first_seq=5, opened=False)]
    batches[1].append({"seq": 10, "type": "scroll", "at": start + 40_000, "depth": 73})
    batches[1].append({"seq": 11, "type": "leave", "at": start + 41_000, "visible_ms": 1000})
    for events in batches:
        assert (
            post_beacons(tracked.api, {"share": link["token"], "session": "anon-sess-1", "events": events}).status_code
            == 202
        )
    post_beacons(tracked.api, {"share": link["token"], "session": "anon-sess-1", "events": batches[0]})
    records = queued()
    assert len(records) == 3
    ingest(records[:1])
    ingest(records)
    ingest(records)
    store = TrackingStore(tracked.tenant_id)
    view = store.view(view_id(link["token"], "anon-sess-1"))
    assert view["dwell_ms"] == 8 * 5000 + 1000
    assert view["events_n"] == 11
    assert max(view["depth_marks"]) == 70
    assert "left_at" in view
    assert "customer" not in view
    day = view_alerts.day_of(time.time())
    counts = store.counts(MATERIAL, tracked.material_id, day, day)
    assert (counts["opens"], counts["identified_opens"], counts["viewers"], counts["dwell_ms"]) == (1, 0, 1, 41_000)
    assert store.counts("c", "bc-42", day, day)["opens"] == 1
    assert inbox(tracked) == []
    raw = store.raw_batches(view_alerts.day_of(time.time()), time.time())
    assert sum(len(json.loads(chunk)) for chunk in raw) == 2
    assert store.raw_batches(view_alerts.day_of(time.time()), time.time() + 91 * 86_400) == []


def test_identified_open_alerts_the_sharer_once_per_half_hour(tracked):
    link = share(tracked)
    customer = sorted(tracked.company.book.customers)[0]
    viewer = viewer_token(tracked.tenant_id, customer)
    start = int(time.time() * 1000)
    for session in ("view-one-1", "view-two-2"):
        body = {"share": link["token"], "viewer": viewer, "session": session, "events": reading(start, 2)}
        assert post_beacons(tracked.api, body).status_code == 202
    opens = queued(resources.BEACON_ALERTS)
    alert(opens)
    alert(opens)
    ingest(queued())
    cards = inbox(tracked)
    assert len(cards) == 1
    assert cards[0]["userid"] == tracked.sharer
    assert cards[0]["msgtype"] == "textcard"
    assert "正在看「春季手册」, 今天第 1 次" in cards[0]["description"]
    link = cards[0]["url"].removeprefix(f"{PAGE_ORIGIN}/sales/customers/")
    claims = signed_tokens.verify(link, SalesLinkClaims, share_links.share_keys_of, time.time())
    assert (claims.tenant_id, claims.customer, claims.sharer) == (tracked.tenant_id, customer, tracked.sharer)
    timeline = call(tracked.api, "GET", f"/v1/customers/{customer}/timeline", tracked.token).json_body["entries"]
    assert [(e["kind"], e["dwell_ms"], e["sharer"]) for e in timeline] == [("view", 10_000, tracked.sharer)] * 2
    stats = call(tracked.api, "GET", f"/v1/sales/{tracked.sharer}/stats", tracked.token).json_body
    assert stats["day"]["alerts"] == {"sent": 1, "debounced": 1, "digested": 0}
    assert stats["day"]["identified_viewers"] == 1
    assert stats["day"]["shares"] == 1
    hot = call(tracked.api, "GET", f"/v1/sales/{tracked.sharer}/hot-customers", tracked.token).json_body
    assert hot["customers"] == [{"customer_id": customer, "opens": 2}]
    forgotten = call(tracked.api, "DELETE", f"/v1/customers/{customer}/tracking", tracked.token).json_body
    assert forgotten == {"deleted": 2}
    # This customer was only ever a viewer token (the fixture stores no profile): with the timeline gone, the tenant
    # knows nothing of them, and the answer is the one for any unknown id.
    assert call(tracked.api, "GET", f"/v1/customers/{customer}/timeline", tracked.token).status_code == 404


def test_a_lead_is_stored_on_the_customer_or_as_anonymous_and_alerted_once(tracked):
    link = share(tracked)
    customer = sorted(tracked.company.book.customers)[1]
    headers = {"Content-Type": "text/plain", "Origin": PAGE_ORIGIN}
    known = {"share": link["token"], "viewer": viewer_token(tracked.tenant_id, customer), "session": "lead-sess-1"}
    anonymous = {"share": link["token"], "session": "lead-sess-2"}
    for body in (known, anonymous, known):
        form = body | {"name": "王先生", "phone": "138 0000 0000", "note": "想要报价"}
        assert tracked.api.post("/t/leads", headers=headers, body=json.dumps(form)).status_code == 202
    bad = anonymous | {"name": "x", "phone": "call me"}
    assert tracked.api.post("/t/leads", headers=headers, body=json.dumps(bad)).status_code == 400
    process()
    entries = call(tracked.api, "GET", f"/v1/customers/{customer}/timeline", tracked.token).json_body["entries"]
    assert [(e["kind"], e["phone"]) for e in entries] == [("lead", "138 0000 0000")]
    assert len(TrackingStore(tracked.tenant_id).anonymous_leads(10)) == 1
    cards = inbox(tracked)
    assert len(cards) == 2
    assert all("留下了联系方式 138 0000 0000" in card["description"] for card in cards)
    stats = call(tracked.api, "GET", f"/v1/materials/{tracked.material_id}/stats", tracked.token).json_body
    assert stats["leads"] == 2


def test_alerts_over_the_member_budget_become_one_digest_and_none_is_lost(tracked, monkeypatch):
    while time.time() % 60 > 40:  # the five alerts below must fall in one minute, ours and the simulator's
        time.sleep(0.2)
    budget = Budget(per_member_minute=3, per_member_hour=1000, per_app_day=1000)
    monkeypatch.setattr(alert_service, "app_budget", lambda tenant_id: budget)
    link = share(tracked)
    start = int(time.time() * 1000)
    customers = sorted(tracked.company.book.customers)[:5]
    for n, customer in enumerate(customers):
        body = {
            "share": link["token"],
            "viewer": viewer_token(tracked.tenant_id, customer),
            "session": f"session-{n:04d}",
            "events": reading(start, 1),
        }
        assert post_beacons(tracked.api, body).status_code == 202
    process()
    assert len(inbox(tracked)) == 3
    assert delayed_messages() == 1
    tracked.sim.clock.advance(61)
    assert alert_service.send_digest(tracked.tenant_id, tracked.sharer, time.time() + 61) == 2
    cards = inbox(tracked)
    assert len(cards) == 4
    assert cards[-1]["title"] == "2 条客户动态"
    assert tracked.stats()["app_messages"]["dropped"] == 0


def test_the_budget_take_never_goes_over_its_limit(tracked):
    state = AlertState(tracked.tenant_id)
    budget = Budget(per_member_minute=2, per_member_hour=3, per_app_day=100)
    now = 1_800_000_000.0
    taken = [state.take_budget("zhangsan", budget, now + s) for s in (0, 1, 2, 61, 62)]
    assert taken == [None, None, view_alerts.MINUTE, None, view_alerts.HOUR]
    forget_reservations()
    assert state.take_budget("lisi", Budget(per_app_day=1), now + 3600) == view_alerts.DAY


def test_read_back_is_scoped_to_the_tenant_and_to_a_sales_key(tracked, sim_tenant_factory):
    mine, other = sorted(tracked.company.employees)[:2]
    sales = call(tracked.api, "POST", "/v1/api-keys", tracked.token, {"role": "sales", "employee_userid": mine})
    sales_token = sales.json_body["token"]
    own_link = share(tracked, token=sales_token, sharer=None)
    assert own_link["sharer"] == mine
    denied = call(tracked.api, "POST", "/v1/shares", sales_token, {"material_id": tracked.material_id, "sharer": other})
    assert denied.status_code == 403
    share(tracked, sharer=other)
    listed = call(tracked.api, "GET", "/v1/shares", sales_token).json_body["shares"]
    assert [s["sharer"] for s in listed] == [mine]
    assert len(call(tracked.api, "GET", "/v1/shares", tracked.token).json_body["shares"]) == 2
    assert call(tracked.api, "GET", f"/v1/sales/{other}/stats", sales_token).status_code == 403
    assert call(tracked.api, "GET", f"/v1/sales/{mine}/stats", sales_token).json_body["day"]["shares"] == 1
    assert call(tracked.api, "GET", f"/v1/materials/{tracked.material_id}/stats", sales_token).status_code == 403
    stranger = sim_tenant_factory("rival", config=SimConfig(seed=8), employees=2, customers=3)
    theirs = call(stranger.api, "GET", "/v1/shares", stranger.token).json_body["shares"]
    assert theirs == []
    stats = call(stranger.api, "GET", f"/v1/materials/{tracked.material_id}/stats", stranger.token)
    assert (stats.status_code, stats.json_body["Message"]) == (404, "no such material")
    foreign = post_beacons(
        stranger.api,
        {
            "share": own_link["token"][:-3] + "AAA",
            "session": "sess-0003",
            "events": [{"seq": 0, "type": "open", "at": int(time.time() * 1000)}],
        },
    )
    assert foreign.status_code == 404


def test_key_rotation_through_the_api(tracked):
    link = share(tracked)
    rotated = call(tracked.api, "POST", "/v1/shares/keys/rotate", tracked.token, {"invalidate_old": True})
    assert rotated.json_body == {"version": 2, "old_links_valid": False}
    body = {
        "share": link["token"],
        "session": "sess-0004",
        "events": [{"seq": 0, "type": "open", "at": int(time.time() * 1000)}],
    }
    assert post_beacons(tracked.api, body).status_code == 404


def test_tracked_links_in_mass_and_welcome_messages_are_made_per_sender(tracked):
    material = MaterialStore(tracked.tenant_id).get(tracked.material_id)
    answer = call(
        tracked.api,
        "PUT",
        f"/v1/materials/{tracked.material_id}/tracking",
        tracked.token,
        {"auto_tag_ids": [], "tracked": True},
    )
    assert answer.json_body == {"auto_tag_ids": [], "tracked": True}
    attachments = [
        {"msgtype": "link", "link": {"title": "春季手册", "url": material.url}},
        {"msgtype": "link", "link": {"title": "other", "url": "https://elsewhere.example.com/"}},
        {"msgtype": "image", "image": {"pic_url": "https://shop.example.com/p.png"}},
    ]
    sent = tracked_links.per_sender(tracked.tenant_id, attachments, "emp00001", "bc-7")
    assert sent[1:] == attachments[1:]
    url = sent[0]["link"]["url"]
    assert url.startswith(f"{PAGE_ORIGIN}/s/")
    claims = share_links.open_share(url.rsplit("/", 1)[1], time.time())
    assert (claims.material_id, claims.sharer, claims.campaign) == (tracked.material_id, "emp00001", "bc-7")
    assert attachments[0]["link"]["url"] == material.url
