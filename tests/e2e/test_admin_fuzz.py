"""Property-based fuzzing of the admin API from its own OpenAPI document (schemathesis), over loopback HTTP.

The app is served by Chalice's local server on an ephemeral port, with moto in-process and the WeCom simulator as
WeCom. Tenant A is the simulator's company; tenant B claims the same corp id with another secret. Tenant A's admin key
calls every documented operation with schema-conforming and schema-violating inputs: no answer may be a 5xx, and none
may contain tenant B's data or any tenant secret. Bounded: MAX_EXAMPLES per operation and generation mode.
"""

from __future__ import annotations

import hashlib
import threading
import time

import pytest
import requests
import schemathesis
from chalice.config import Config
from chalice.local import create_local_server
from hypothesis import HealthCheck, Phase, given, settings

from app import app
from local.wecom_sim import SimConfig, Simulator
from tests.tenancy import OPS_KEY

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::UserWarning")]

MAX_EXAMPLES = 10


@pytest.fixture
def wecom(monkeypatch):
    sim = Simulator(SimConfig(seed=7))
    company = sim.add_company(employees=10, customers=100)
    monkeypatch.setenv("WECOM_BASE_URL", sim.start())
    try:
        yield company
    finally:
        sim.stop()


@pytest.fixture
def served(aws, wecom, monkeypatch):
    monkeypatch.setenv("OPS_KEY_SHA256", hashlib.sha256(OPS_KEY.encode()).hexdigest())
    original_class = app.__class__
    server = create_local_server(app, Config.create(chalice_stage="local", app_name="qiwei-reach"), "127.0.0.1", 0)
    base = f"http://127.0.0.1:{server.server.server_address[1]}"
    monkeypatch.setenv("PUBLIC_BASE_URL", base)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base
    finally:
        server.shutdown()
        thread.join(5)
        app.__class__ = original_class


def _tenant(base: str, tenant_id: str, corp_id: str, app_secret: str) -> dict:
    body = {"tenant_id": tenant_id, "name": tenant_id, "corp_id": corp_id, "agent_id": 1000002}
    response = requests.post(
        f"{base}/ops/tenants", json={**body, "app_secret": app_secret}, headers={"X-Ops-Key": OPS_KEY}, timeout=10
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_fuzzing_the_admin_api_finds_no_server_error_and_no_leak(served, wecom):
    a = _tenant(served, "tenant-a", wecom.corpid, wecom.secret)
    b = _tenant(served, "tenant-b", wecom.corpid, "app-secret-of-b")
    a_auth = {"Authorization": f"Bearer {a['admin_key']['token']}"}
    b_auth = {"Authorization": f"Bearer {b['admin_key']['token']}"}
    b_key = requests.post(
        f"{served}/v1/api-keys", json={"role": "viewer", "label": "label-of-b"}, headers=b_auth, timeout=10
    ).json()
    forbidden = {
        "tenant-b",
        b_key["key"]["key_id"],
        "label-of-b",
        wecom.secret,
        "app-secret-of-b",
        *(created["callback"][name] for created in (a, b) for name in ("callback_token", "encoding_aes_key")),
        *(token.split(".")[3] for token in (a["admin_key"]["token"], b["admin_key"]["token"], b_key["token"])),
    }
    schema = schemathesis.openapi.from_url(f"{served}/openapi.json")
    tried: dict[str, int] = {}
    statuses: dict[int, int] = {}
    started = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            _fuzz(operation, mode, served, a_auth, forbidden, tried, statuses)
    elapsed = time.monotonic() - started
    total = sum(tried.values())
    print(f"admin fuzz: {total} requests, {len(tried)} operations, {elapsed:.1f}s, statuses {sorted(statuses.items())}")
    assert len(tried) >= 7
    still_b = requests.get(f"{served}/v1/api-keys", headers=b_auth, timeout=10).json()
    assert {k["key_id"] for k in still_b["keys"]} == {b["admin_key"]["key"]["key_id"], b_key["key"]["key_id"]}


def _fuzz(operation, mode, base, auth, forbidden, tried, statuses) -> None:
    """Run one operation's bounded Hypothesis search in one generation mode."""

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        response = case.call(base_url=base, headers=auth, timeout=10)
        tried[operation.label] = tried.get(operation.label, 0) + 1
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, (case.method, case.formatted_path, response.text)
        for secret in forbidden:
            assert secret not in response.text, (case.method, case.formatted_path)

    run()
