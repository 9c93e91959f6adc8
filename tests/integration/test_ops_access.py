"""The ops API fails closed, audits every write to a tenant in that tenant's log, and shows callback URLs built from
configuration, never from the request."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from app import app
from chalicelib.store import tenants
from tests.tenancy import OPS_KEY, app_client, call, create_tenant, local_stage_project, ops_headers

pytestmark = pytest.mark.filterwarnings("ignore:IAMAuthorizer is not a supported in local mode")

ROLE_ARN = "arn:aws-cn:iam::123456789012:user/operator"


def gateway_event(path: str, identity: dict[str, str], headers: dict[str, str] | None = None) -> dict[str, Any]:
    """What API Gateway hands the function for `GET path` once its IAM authorizer let the call through."""
    return {
        "resource": path,
        "path": path,
        "httpMethod": "GET",
        "headers": headers or {},
        "multiValueHeaders": {k: [v] for k, v in (headers or {}).items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"resourcePath": path, "httpMethod": "GET", "requestId": "r-1", "identity": identity},
        "body": None,
        "isBase64Encoded": False,
    }


def test_without_a_configured_key_every_ops_request_is_refused(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPS_KEY_SHA256")
    for headers in (ops_headers(), {"X-Ops-Key": ""}, {}):
        answer = api.get("/ops/tenants", headers=headers)
        assert answer.status_code == 403
        assert answer.json_body["Message"] == "ops access is not configured on this stage"


@pytest.mark.parametrize("mode", ["", "none", "open", "IAM", "iam"])
def test_an_unknown_ops_auth_mode_refuses_even_the_right_key(
    api: Any, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.setenv("OPS_AUTH", mode)
    assert api.get("/ops/tenants", headers=ops_headers()).status_code == 403


def test_iam_only_needs_the_caller_api_gateway_authenticated(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_AUTH", "iam-only")
    monkeypatch.delenv("OPS_KEY_SHA256", raising=False)
    refused = app(gateway_event("/ops/tenants", {"sourceIp": "10.0.0.1"}, {"x-ops-key": OPS_KEY}), None)
    assert refused["statusCode"] == 401
    allowed = app(gateway_event("/ops/tenants", {"sourceIp": "10.0.0.1", "userArn": ROLE_ARN}), None)
    assert allowed["statusCode"] == 200, allowed


def test_the_local_test_client_cannot_pass_for_iam(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chalice does not enforce IAM locally: an iam-only setting there refuses rather than opens."""
    monkeypatch.setenv("OPS_AUTH", "iam-only")
    assert api.get("/ops/tenants", headers=ops_headers()).status_code == 401


def ops_entries(api: Any, token: str) -> list[dict[str, Any]]:
    """The tenant's ops entries, oldest first (entries of the same millisecond in either order)."""
    entries = call(api, "GET", "/v1/audit?limit=100", token).json_body["entries"]
    return [entry for entry in reversed(entries) if entry["role"] == "ops"]


def actions(entries: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((e["action"], e["target"]) for e in entries)


def test_every_ops_write_to_a_tenant_is_in_its_audit_log(api: Any) -> None:
    created = create_tenant(api, tenant_id="audited")
    token = created["admin_key"]["token"]
    writes = [
        ("/ops/tenants/audited/secrets", {"app_secret": "rotated"}),
        ("/ops/tenants/audited/plan", {"plan": "pro", "paid_days": 30}),
        ("/ops/tenants/audited/renew", {"days": 10}),
        ("/ops/tenants/audited/suspend", {"reason": "unpaid"}),
        ("/ops/tenants/audited/resume", {}),
        ("/ops/tenants/audited/api-keys", {"role": "admin", "label": "recovery"}),
    ]
    answers = []
    for path, body in writes:
        answer = api.post(path, headers={**ops_headers(), "User-Agent": "ops-cli"}, body=json.dumps(body))
        assert answer.status_code in (200, 201), (path, answer.body)
        answers.append(answer.json_body)
    minted = answers[-1]["key"]["key_id"]
    entries = ops_entries(api, token)
    assert actions(entries) == sorted(
        [
            ("tenant.create", "audited"),
            ("api_key.create", created["admin_key"]["key"]["key_id"]),
            ("tenant.secrets.rotate", "app_secret"),
            ("tenant.plan", "pro"),
            ("tenant.renew", "10 days"),
            ("tenant.suspend", "audited"),
            ("tenant.resume", "audited"),
            ("api_key.create", minted),
        ]
    )
    assert {(e["key_id"], e["role"]) for e in entries} == {("ops", "ops")}
    assert {e["user_agent"] for e in entries if e["target"] == minted} == {"ops-cli"}
    assert "rotated" not in json.dumps(entries)


def test_refused_or_failed_ops_writes_are_not_audited(api: Any) -> None:
    token = create_tenant(api, tenant_id="quiet")["admin_key"]["token"]
    before = ops_entries(api, token)
    assert api.post("/ops/tenants/quiet/secrets", headers=ops_headers(), body="{}").status_code == 400
    assert api.post("/ops/tenants/quiet/renew", headers=ops_headers(), body='{"days": 1}').status_code == 409
    assert api.post("/ops/tenants/quiet/suspend", body='{"reason": "x"}').status_code == 401
    assert ops_entries(api, token) == before


def test_the_callback_url_comes_from_configuration_not_the_host_header(api: Any) -> None:
    headers = {**ops_headers(), "Host": "attacker.example"}
    body = {"name": "A", "corp_id": "ww1", "agent_id": 1, "app_secret": "x", "tenant_id": "hosted"}
    created = api.post("/ops/tenants", headers=headers, body=json.dumps(body)).json_body
    assert created["callback"]["url"] == "http://127.0.0.1:8000/wecom/hosted/callback"
    rotated = api.post("/ops/tenants/hosted/secrets", headers=headers, body='{"regenerate_callback": true}')
    assert rotated.json_body["callback"]["url"] == "http://127.0.0.1:8000/wecom/hosted/callback"


@pytest.mark.parametrize("base", ["", "127.0.0.1:8000", "ftp://host", "https://host/?x=1"])
def test_without_a_public_base_url_nothing_is_created_and_the_answer_says_why(
    aws: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, base: str
) -> None:
    monkeypatch.setenv("OPS_KEY_SHA256", hashlib.sha256(OPS_KEY.encode()).hexdigest())
    with app_client(monkeypatch, local_stage_project(tmp_path, PUBLIC_BASE_URL=base)) as client:
        body = {"name": "A", "corp_id": "ww1", "agent_id": 1, "app_secret": "x", "tenant_id": "nowhere"}
        answer = client.http.post("/ops/tenants", headers=ops_headers(), body=json.dumps(body))
        assert answer.status_code == 500
        assert "PUBLIC_BASE_URL is not configured" in answer.json_body["Message"]
        assert tenants.get_tenant("nowhere") is None
