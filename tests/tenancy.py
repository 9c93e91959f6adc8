"""Test helpers for tenants and admin keys: the app's test client with the local ops key, tenant creation, and the
tenant onboarded for a simulated WeCom company."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.wecom.events import WeComEvent, parse_event
from local.wecom_sim import Company, Simulator
from local.wecom_sim.emitter import Scenario
from local.wecom_sim.events import event_xml

OPS_KEY = "local-ops-key"
PROJECT_DIR = str(Path(__file__).resolve().parent.parent)


def ops_headers() -> dict[str, str]:
    return {"X-Ops-Key": OPS_KEY, "Content-Type": "application/json"}


def key_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "User-Agent": "pytest-admin"}


def app_client(monkeypatch: pytest.MonkeyPatch, project_dir: str = PROJECT_DIR) -> Client:
    """The app's in-process test client on the local stage of `project_dir`'s Chalice config, ops key required as in
    the local stack. The client applies that stage's environment during each request or invocation."""
    from app import app

    monkeypatch.setenv("OPS_KEY_SHA256", hashlib.sha256(OPS_KEY.encode()).hexdigest())
    return Client(app, stage_name="local", project_dir=project_dir)


def local_stage_project(directory: Path, **environment: str) -> str:
    """A project directory whose Chalice config is the project's own with `environment` added to the local stage's
    (so a test's app can reach a server on an ephemeral port); returns its path."""
    config = json.loads((Path(PROJECT_DIR) / ".chalice" / "config.json").read_text())
    config["stages"]["local"]["environment_variables"].update(environment)
    (directory / ".chalice").mkdir(parents=True)
    (directory / ".chalice" / "config.json").write_text(json.dumps(config))
    return str(directory)


@pytest.fixture
def api(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The app's in-process HTTP test client (authorizers enforced), ops key required as in the local stack."""
    with app_client(monkeypatch) as client:
        yield client.http


def create_tenant(http: Any, **fields: Any) -> dict[str, Any]:
    """Create a tenant through the ops API; returns the creation answer (with its once-shown secrets)."""
    body = {"name": "Acme", "corp_id": "ww0123456789abcdef", "agent_id": 1000002, "app_secret": "s3cret-app-secret"}
    body |= fields
    response = http.post("/ops/tenants", headers=ops_headers(), body=json.dumps(body))
    assert response.status_code == 201, response.body
    return response.json_body


def call(http: Any, method: str, path: str, token: str, body: Any = None) -> Any:
    """An admin API call with a key."""
    data = None if body is None else json.dumps(body)
    return getattr(http, method.lower())(path, headers=key_headers(token), body=data)


@dataclass
class SimTenant:
    """A simulator, its company, the tenant onboarded for it with its admin token, and the app's test client whose
    WeCom is that simulator (`api` for HTTP, `client.lambda_`/`client.events` for functions)."""

    sim: Simulator
    company: Company
    tenant_id: str
    token: str
    client: Client

    @property
    def api(self) -> Any:
        return self.client.http

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        return call(self.api, method, path, self.token, body)

    def stats(self) -> dict[str, Any]:
        return self.sim.stats(self.company.corpid, detail=True)

    def play(self, scenario: Scenario) -> list[WeComEvent]:
        """The typed events of a finished scenario, as the callback endpoint would have queued them."""
        scenario.wait(10)
        return [
            parse_event(event_xml(self.company.corpid, e.create_time, e.event, e.change_type, list(e.fields.items())))
            for e in scenario.emitted
        ]
