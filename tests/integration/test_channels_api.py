"""Channels admin API on moto with the simulator as WeCom: the 「联系我」 QR code follows every change."""

from __future__ import annotations

import pytest

from tests.tenancy import SimTenant

pytestmark = pytest.mark.filterwarnings("ignore:IAMAuthorizer is not a supported in local mode")

LINK = {"msgtype": "link", "link": {"title": "门店地图", "url": "https://shop.example.com/map"}}


def test_a_channel_is_created_listed_changed_and_deleted_in_step_with_wecom(wecom_tenant: SimTenant):
    ways = wecom_tenant.company.contact_ways
    body = {
        "name": "门店A",
        "userids": ["emp00001"],
        "state": "store_a",
        "welcome_text": "欢迎",
        "welcome_attachments": [LINK],
    }
    created = wecom_tenant.admin("POST", "/v1/channels", body)
    assert created.status_code == 201, created.body
    channel = created.json_body["channel"]
    assert channel["qr_code"]
    assert ways[channel["channel_id"]]["state"] == "store_a"
    assert channel["welcome"] == {"text": "欢迎", "attachments": [LINK]}
    assert channel["figures"] == {"friends_added": 0, "friends_lost": 0, "still_friends": 0}

    listed = wecom_tenant.admin("GET", "/v1/channels").json_body["channels"]
    assert [c["channel_id"] for c in listed] == [channel["channel_id"]]

    path = f"/v1/channels/{channel['channel_id']}"
    changed = wecom_tenant.admin("PATCH", path, {"userids": ["emp00001", "emp00002"], "clear_welcome": True})
    assert changed.status_code == 200, changed.body
    assert changed.json_body["channel"]["welcome"] is None
    assert ways[channel["channel_id"]]["user"] == ["emp00001", "emp00002"]

    assert wecom_tenant.admin("DELETE", path).status_code == 200
    assert channel["channel_id"] not in ways
    assert wecom_tenant.admin("GET", path).status_code == 404
    again = wecom_tenant.admin("POST", "/v1/channels", body)
    assert again.status_code == 201, "a deleted channel's state is free again"


def test_a_state_names_one_channel(wecom_tenant: SimTenant):
    body = {"name": "A", "userids": ["emp00001"], "state": "same"}
    assert wecom_tenant.admin("POST", "/v1/channels", body).status_code == 201
    taken = wecom_tenant.admin("POST", "/v1/channels", body)
    assert taken.status_code == 409
    assert len(wecom_tenant.company.contact_ways) == 1


def test_a_generated_state_fits_wecoms_limit(wecom_tenant: SimTenant):
    channel = wecom_tenant.admin("POST", "/v1/channels", {"name": "A", "userids": ["emp00003"]}).json_body["channel"]
    assert 0 < len(channel["state"]) <= 30


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"name": "A", "userids": []}, "at least one"),
        (
            {"name": "A", "userids": ["emp00001"], "welcome_attachments": [{"msgtype": "link", "link": {}}]},
            "link.title",
        ),
        ({"name": "A", "userids": ["emp00001"], "welcome_attachments": [LINK] * 10}, "more than 9"),
        ({"name": "A", "userids": ["emp00001"], "welcome_attachments": ["x"]}, "must be an object"),
        ({"name": "A", "userids": ["emp00001"], "state": "x" * 31}, "state"),
        ({"name": "A", "userids": ["nobody"]}, "errcode"),
    ],
)
def test_invalid_channels_are_refused_and_nothing_stays_behind(wecom_tenant: SimTenant, body, fragment):
    response = wecom_tenant.admin("POST", "/v1/channels", body)
    assert response.status_code == 400
    assert fragment in response.json_body["Message"]
    assert wecom_tenant.company.contact_ways == {}
    assert wecom_tenant.admin("GET", "/v1/channels").json_body["channels"] == []


def test_the_default_welcome_message(wecom_tenant: SimTenant):
    assert wecom_tenant.admin("GET", "/v1/welcome-messages/_default").status_code == 404
    put = wecom_tenant.admin("PUT", "/v1/welcome-messages/_default", {"text": "你好"})
    assert put.status_code == 200
    got = wecom_tenant.admin("GET", "/v1/welcome-messages/_default").json_body
    assert got["welcome"] == {"text": "你好", "attachments": []}
    assert wecom_tenant.admin("PUT", "/v1/welcome-messages/_default", {}).status_code == 400
    assert wecom_tenant.admin("PUT", "/v1/welcome-messages/unknown-employee", {"text": "x"}).status_code == 404
    assert wecom_tenant.admin("DELETE", "/v1/welcome-messages/_default").status_code == 200
