"""A cursor is opaque and bound to its listing and tenant: a tampered, foreign or malformed cursor on any listing is
a 400 naming the cursor, never a start key (a 500 locally, worse on DynamoDB)."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest

from tests.tenancy import call, create_tenant, ops_headers

pytestmark = pytest.mark.filterwarnings("ignore:IAMAuthorizer is not a supported in local mode")


def b64(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


HOSTILE = [
    "not-base64!",
    b64([]),
    b64(7),
    b64({"pk": {"S": "victim#emp"}, "sk": {"S": "boss"}}),
    b64({"pk": {"S": "acme#emp"}, "sk": {"B": "AAAA"}}),
    b64({"pk": {"S": "acme#emp"}, "sk": {"S": "x" * 2000}}),
    b64({"pk": {"S": "acme#emp"}, "sk": {"S": "x"}, "gsi1pk": {"S": "victim#bcs"}, "gsi1sk": {"S": "x"}}),
    b64({"s": "all", "c": {"pk": 1}}),
    b64({"s": "all", "c": b64({"src": ["all", "_all"], "pos": {"t:_all:00": 5}})}),
    b64({"s": "all", "c": b64(["src"])}),
    b64({"src": ["x"], "pos": []}),
]
LISTINGS = ["/v1/customers", "/v1/employees", "/v1/broadcasts", "/v1/audit", "/v1/materials"]


@pytest.fixture
def tenant(api):
    create_tenant(api, tenant_id="victim", corp_id="wwvictim0000000001")
    return create_tenant(api, tenant_id="acme", plan="pro", paid_days=30)["admin_key"]["token"]


@pytest.mark.parametrize("path", LISTINGS)
def test_every_listing_refuses_hostile_cursors_with_a_400(api, tenant, path):
    assert call(api, "GET", path, tenant).status_code == 200
    for cursor in HOSTILE:
        answer = call(api, "GET", f"{path}?cursor={quote(cursor)}", tenant)
        assert answer.status_code == 400, (path, cursor, answer.body)
        assert "cursor" in answer.json_body["Message"]


def test_the_tenant_listing_refuses_hostile_cursors(api, tenant):
    for cursor in HOSTILE:
        answer = api.get(f"/ops/tenants?cursor={quote(cursor)}", headers=ops_headers())
        assert answer.status_code == 400, (cursor, answer.body)
