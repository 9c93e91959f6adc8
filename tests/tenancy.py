"""Test helpers for tenants and admin keys: the app's test client with the local ops key, and tenant factories."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

OPS_KEY = "local-ops-key"
PROJECT_DIR = str(Path(__file__).resolve().parent.parent)


def ops_headers() -> dict[str, str]:
    return {"X-Ops-Key": OPS_KEY, "Content-Type": "application/json"}


def key_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "User-Agent": "pytest-admin"}


@pytest.fixture
def api(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The app's in-process HTTP test client (authorizers enforced), ops key required as in the local stack."""
    from app import app

    monkeypatch.setenv("OPS_KEY_SHA256", hashlib.sha256(OPS_KEY.encode()).hexdigest())
    with Client(app, stage_name="local", project_dir=PROJECT_DIR) as client:
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
