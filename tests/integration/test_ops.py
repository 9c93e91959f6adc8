import json
import time
from dataclasses import replace

import boto3
import pytest

from chalicelib.config import get_settings
from chalicelib.domain.credentials import AppCredentials
from chalicelib.domain.plans import DAY
from chalicelib.store import tenants, usage
from chalicelib.store.rate_limits import BucketItem, RateLimiter
from tests.tenancy import call, create_tenant, ops_headers

pytestmark = pytest.mark.filterwarnings("ignore:IAMAuthorizer is not a supported in local mode")


def test_ops_routes_need_the_ops_key_locally(api):
    assert api.get("/ops/tenants").status_code == 401
    assert api.get("/ops/tenants", headers={"X-Ops-Key": "wrong"}).status_code == 401
    assert api.get("/ops/tenants", headers=ops_headers()).status_code == 200


def test_creating_a_tenant_shows_generated_callback_values_and_admin_key_once(api, aws):
    created = create_tenant(api, tenant_id="acme", name="Acme")
    callback = created["callback"]
    assert callback["url"].endswith("/wecom/acme/callback")
    assert len(callback["callback_token"]) == 32
    assert callback["callback_token"].isalnum()
    assert len(callback["encoding_aes_key"]) == 43
    assert callback["encoding_aes_key"].isalnum()
    assert created["admin_key"]["token"].startswith("qrk.acme.")
    assert created["tenant"]["plan"] == "trial"
    assert created["tenant"]["expires_at"] - int(time.time()) in range(14 * DAY - 60, 14 * DAY + 1)

    parameter = boto3.client("ssm").get_parameter(Name=f"{aws.secrets_prefix}/tenants/acme/app_secret")["Parameter"]
    assert parameter["Type"] == "SecureString"

    detail = api.get("/ops/tenants/acme", headers=ops_headers())
    listing = api.get("/ops/tenants", headers=ops_headers())
    for response in (detail, listing):
        assert response.status_code == 200
        for secret in ("s3cret-app-secret", callback["callback_token"], callback["encoding_aes_key"]):
            assert secret not in response.body.decode()
    assert detail.json_body["active_keys"] == 1
    assert "no_callback_yet" in detail.json_body["flags"]

    again = api.post("/ops/tenants", headers=ops_headers(), body=json.dumps({**_minimal(), "tenant_id": "acme"}))
    assert again.status_code == 409


def test_onboarding_and_the_tenant_view_show_the_regions_egress_ips(api, monkeypatch):
    """What the tenant lists as its app's trusted IPs (WeCom refuses other callers with 60020)."""
    monkeypatch.setenv("EGRESS_IPS", "18.166.0.2,18.166.0.1")
    created = create_tenant(api, tenant_id="trusting")
    assert created["trusted_ips"] == ["18.166.0.1", "18.166.0.2"]
    detail = api.get("/ops/tenants/trusting", headers=ops_headers()).json_body
    assert detail["trusted_ips"] == ["18.166.0.1", "18.166.0.2"]


def _minimal():
    return {"name": "X", "corp_id": "ww1", "agent_id": 1, "app_secret": "x"}


def test_given_callback_values_are_kept_and_credentials_are_served_to_the_other_parts(api):
    created = create_tenant(
        api, tenant_id="given", callback_token="abc123", encoding_aes_key="a" * 43, corp_id="wwcorp", agent_id=7
    )
    assert created["callback"]["callback_token"] == "abc123"
    callback = tenants.get_callback_credentials("given")
    assert (callback.corp_id, callback.token, callback.encoding_aes_key) == ("wwcorp", "abc123", "a" * 43)
    assert tenants.get_app_credentials("given") == AppCredentials("wwcorp", 7, "s3cret-app-secret")
    assert "s3cret" not in repr(tenants.get_app_credentials("given"))
    assert tenants.get_callback_credentials("nobody") is None
    assert tenants.get_app_credentials("Not A Tenant") is None


def test_generated_tenant_id_and_bad_bodies(api):
    created = create_tenant(api)
    assert created["tenant"]["tenant_id"].startswith("t-")
    cases = [
        (b"{not json", 400, "malformed JSON"),
        (json.dumps([1, 2]).encode(), 400, "JSON object"),
        (json.dumps({**_minimal(), "agent_id": "7"}).encode(), 400, "'agent_id' must be an integer"),
        (json.dumps({**_minimal(), "agent_id": True}).encode(), 400, "'agent_id' must be an integer"),
        (json.dumps({**_minimal(), "surprise": 1}).encode(), 400, "unknown field(s): surprise"),
        (json.dumps({**_minimal(), "tenant_id": "UPPER"}).encode(), 400, "'tenant_id' must match"),
        (json.dumps({**_minimal(), "encoding_aes_key": "short"}).encode(), 400, "'encoding_aes_key' must match"),
        (json.dumps({**_minimal(), "plan": "pro"}).encode(), 400, "paid_days"),
        (json.dumps({"name": "X"}).encode(), 400, "'corp_id' is required"),
        (json.dumps({**_minimal(), "name": "x" * 70_000}).encode(), 413, "exceeds"),
    ]
    for raw, status, message in cases:
        response = api.post("/ops/tenants", headers=ops_headers(), body=raw)
        assert response.status_code == status, (raw[:40], response.body)
        assert message in response.json_body["Message"]


def test_rotating_secrets_reaches_cached_credentials_and_shows_only_generated_values(api):
    create_tenant(api, tenant_id="rot", callback_token="abc123", encoding_aes_key="a" * 43)
    assert tenants.get_app_credentials("rot").secret == "s3cret-app-secret"
    rotated = api.post("/ops/tenants/rot/secrets", headers=ops_headers(), body=json.dumps({"app_secret": "new-one"}))
    assert rotated.status_code == 200
    assert rotated.json_body == {"rotated": ["app_secret"]}
    assert tenants.get_app_credentials("rot").secret == "new-one"

    regenerated = api.post(
        "/ops/tenants/rot/secrets", headers=ops_headers(), body=json.dumps({"regenerate_callback": True})
    ).json_body
    assert regenerated["callback"]["callback_token"] == tenants.get_callback_credentials("rot").token != "abc123"
    nothing = api.post("/ops/tenants/rot/secrets", headers=ops_headers(), body="{}")
    assert nothing.status_code == 400
    missing = api.post("/ops/tenants/nope/secrets", headers=ops_headers(), body=json.dumps({"app_secret": "x"}))
    assert missing.status_code == 404


def test_another_process_sees_a_rotation_after_the_cache_ttl(api, monkeypatch):
    create_tenant(api, tenant_id="ttl")
    assert tenants.get_app_credentials("ttl").secret == "s3cret-app-secret"
    from chalicelib.store import secrets as tenant_secrets

    tenant_secrets.put_secrets("ttl", {"app_secret": "rotated-elsewhere"})
    assert tenants.get_app_credentials("ttl").secret == "s3cret-app-secret"
    later = time.monotonic() + tenants.CREDENTIALS_TTL_SECONDS + 1
    monkeypatch.setattr(time, "monotonic", lambda: later)
    assert tenants.get_app_credentials("ttl").secret == "rotated-elsewhere"
    tenant_secrets.put_secrets("ttl", {"app_secret": "after-40001"})
    tenants.invalidate_credentials("ttl")
    assert tenants.get_app_credentials("ttl").secret == "after-40001"


def test_plan_changes_renewal_suspension_and_resumption(api):
    created = create_tenant(api, tenant_id="life")
    token = created["admin_key"]["token"]
    expires = created["tenant"]["expires_at"]

    assert api.post("/ops/tenants/life/renew", headers=ops_headers(), body='{"days": 30}').status_code == 409
    changed = api.post("/ops/tenants/life/plan", headers=ops_headers(), body='{"plan": "pro", "paid_days": 30}')
    assert changed.json_body["tenant"]["plan"] == "pro"
    assert changed.json_body["tenant"]["expires_at"] == expires + 30 * DAY
    renewed = api.post("/ops/tenants/life/renew", headers=ops_headers(), body='{"days": 10}').json_body
    assert renewed["tenant"]["expires_at"] == expires + 40 * DAY
    assert api.post("/ops/tenants/life/plan", headers=ops_headers(), body='{"plan": "trial"}').status_code == 400

    suspended = api.post("/ops/tenants/life/suspend", headers=ops_headers(), body='{"reason": "unpaid invoice 42"}')
    assert suspended.json_body["tenant"]["status"] == "suspended"
    refused = call(api, "GET", "/v1/me", token)
    assert refused.status_code == 403
    assert "unpaid invoice 42" in refused.json_body["Message"]
    assert tenants.get_callback_credentials("life") is not None

    assert api.post("/ops/tenants/life/resume", headers=ops_headers()).status_code == 200
    assert call(api, "GET", "/v1/me", token).json_body["standing"] == "active"
    assert api.post("/ops/tenants/nope/resume", headers=ops_headers()).status_code == 404
    assert api.post("/ops/tenants/Bad_Id/suspend", headers=ops_headers(), body='{"reason": "x"}').status_code == 404


def test_an_expired_tenant_must_pay_and_its_callbacks_still_resolve(api):
    token = create_tenant(api, tenant_id="late")["admin_key"]["token"]
    tenants.update_tenant("late", int(time.time()), expires_at=int(time.time()) - 1)
    refused = call(api, "GET", "/v1/api-keys", token)
    assert refused.status_code == 402
    assert "expired" in refused.json_body["Message"]
    assert tenants.get_callback_credentials("late") is not None


def test_usage_counters_feed_the_overview(api):
    create_tenant(api, tenant_id="busy", plan="pro", paid_days=30)
    create_tenant(api, tenant_id="idle")
    usage.record_usage("busy", usage.CALLBACKS, 3)
    usage.record_usage("busy", usage.WECOM_CALLS, 10)
    usage.record_usage("busy", usage.WECOM_ERRORS, 2)
    usage.record_total("busy", usage.CUSTOMERS, 5)
    usage.record_total("busy", usage.CUSTOMERS, -1)
    with pytest.raises(KeyError):
        usage.record_usage("busy", "coffee", 1)

    listing = api.get("/ops/tenants?limit=1", headers=ops_headers()).json_body
    assert [row["tenant"]["tenant_id"] for row in listing["tenants"]] == ["busy"]
    busy = listing["tenants"][0]
    assert busy["usage"]["counts"]["callbacks"] == 3
    assert busy["usage"]["counts"]["customers"] == 4
    assert busy["last_callback_at"] is not None
    assert busy["flags"] == ["wecom_errors_high"]
    second = api.get(f"/ops/tenants?limit=1&cursor={listing['next_cursor']}", headers=ops_headers()).json_body
    assert [row["tenant"]["tenant_id"] for row in second["tenants"]] == ["idle"]
    assert (
        second["next_cursor"] is None
        or api.get(f"/ops/tenants?cursor={second['next_cursor']}", headers=ops_headers()).json_body["tenants"] == []
    )
    assert api.get("/ops/tenants?cursor=%%%", headers=ops_headers()).status_code == 400
    assert api.get("/ops/tenants?limit=0", headers=ops_headers()).status_code == 400


def test_the_per_ip_bucket_of_a_region_keys_on_its_egress_ips(aws, monkeypatch):
    """Every function of the region takes its per-IP tokens from the one bucket of the region's NAT IPs."""
    monkeypatch.setenv("EGRESS_IPS", "18.166.0.2,18.166.0.1")
    settings = replace(aws, egress_ip=get_settings().egress_ip)
    assert RateLimiter(settings).acquire("wwcorp", "message/send").granted
    assert BucketItem.get("rl#ip#18.166.0.1+18.166.0.2#message/send", "bucket").tokens > 0
