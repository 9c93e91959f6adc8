"""Hostile input at the edge, on every registered route: bodies that crash JSON parsers, path parameters that are
far too long or end in a newline, cursors that crash the decoder. No answer may be a 5xx, every refusal is a JSON 4xx
with a message, and nothing is written (every table and queue is compared before and after)."""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import quote

import boto3
import pytest

from app import app
from chalicelib.api.path_params import PATH_PARAMS, SELF_CHECKED
from tests.tenancy import create_tenant, key_headers, ops_headers

pytestmark = pytest.mark.filterwarnings("ignore:IAMAuthorizer is not a supported in local mode")

TENANT = "hostile"
VALID = {
    "tenant_id": TENANT,
    "key_id": "0123456789ab",
    "broadcast_id": "bc1700000000000deadbeef",
    "material_id": "0123456789abcdef0123",
    "channel_id": "cfg1",
    "link_id": "link1",
    "moment_task_id": "mt0123456789abcdef0123",
    "customer_id": "wm1",
    "userid": "u1",
    "employee_userid": "u1",
    "tag_id": "et1",
    "group_id": "et1",
    "chat_id": "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA",
    "join_way_id": "9ad7fa5cdaa6511298498f979c472aaa",
    "template_id": "9ad7fa5cdaa6511298498f979c472bbb",
    "token": "s.1.abcd.0123456789abcdefghijkl",
    "name": "page.0123456789ab.js",
}
HOSTILE_BODIES: dict[str, bytes] = {
    "5,000 nested arrays": b"[" * 5000 + b"]" * 5000,
    "5,000 nested objects": b'{"a":' * 5000 + b"1" + b"}" * 5000,
    "a 5,000-digit integer": b'{"x": ' + b"9" * 5000 + b"}",
    "a 5,000-digit float": b'{"x": 0.' + b"1" * 5000 + b"}",
    "1e999": b'{"x": 1e999}',
    "NaN": b'{"x": NaN}',
    "Infinity": b'{"x": Infinity}',
    "-Infinity": b'{"x": -Infinity}',
    "a lone surrogate": b'{"x": "\\ud800"}',
    "a lone surrogate key": b'{"\\udfff": 1}',
    "non-UTF-8 bytes": b'{"x": "\xff\xfe"}',
    "UTF-16": '{"x": 1}'.encode("utf-16"),
    "a UTF-8 BOM": b'\xef\xbb\xbf{"x": 1}',
    "duplicate keys": b'{"x": 1, "x": 2}',
}


def _routes() -> list[tuple[str, str]]:
    return sorted((path, method) for path, methods in app.routes.items() for method in methods)


def _headers(path: str, token: str) -> dict[str, str]:
    if path.startswith("/ops/"):
        return ops_headers()
    if path.startswith("/v1/"):
        return key_headers(token)
    return {"Content-Type": "application/json"}


def _fill(path: str, **given: str) -> str:
    return re.sub(r"{(\w+)}", lambda m: quote(given.get(m.group(1), VALID[m.group(1)]), safe=""), path)


def _snapshot() -> dict[str, Any]:
    """Every item of every table, and every queue's message count."""
    dynamodb, sqs = boto3.client("dynamodb"), boto3.client("sqs")
    tables = {
        name: sorted(json.dumps(item, sort_keys=True) for item in dynamodb.scan(TableName=name)["Items"])
        for name in dynamodb.list_tables()["TableNames"]
    }
    queues = {
        url: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
        for url in sqs.list_queues().get("QueueUrls", [])
    }
    return {"tables": tables, "queues": queues}


def _refused(response: Any, status: int | tuple[int, ...]) -> str:
    """The message of a JSON refusal with `status`."""
    statuses = (status,) if isinstance(status, int) else status
    assert response.status_code in statuses, (response.status_code, response.body[:300])
    body = json.loads(response.body)
    assert body["Message"], body
    return body["Message"]


@pytest.fixture
def admin(api: Any) -> str:
    token = create_tenant(api, tenant_id=TENANT, plan="pro", paid_days=30)["admin_key"]["token"]
    assert api.get("/v1/me", headers=key_headers(token)).status_code == 200  # its last use is recorded now
    return token


def test_every_route_with_a_body_refuses_each_hostile_body_and_writes_nothing(api: Any, admin: str) -> None:
    before = _snapshot()
    writes = [
        (path, method)
        for path, method in _routes()
        if method not in ("GET", "OPTIONS") and not path.startswith("/wecom/")  # a CORS preflight has no body
    ]
    assert len(writes) > 25
    for path, method in writes:
        for name, body in HOSTILE_BODIES.items():
            response = getattr(api, method.lower())(_fill(path), headers=_headers(path, admin), body=body)
            message = _refused(response, (400, 413))
            if response.status_code == 413:  # a public route with a smaller byte cap than the JSON attack's size
                assert path.startswith("/t/"), (method, path, name, message)
                assert "bytes" in message, (method, path, name, message)
            else:
                assert "not acceptable JSON" in message, (method, path, name, message)
    assert _snapshot() == before


@pytest.mark.parametrize(
    "value",
    ["x" * 10_000, "x\n", "VALID\n", "\n", "a b", "../x"],
    ids=["10 KB", "x-newline", "valid-newline", "newline", "space", "dot-dot"],
)
def test_every_path_parameter_of_every_route_refuses_ids_not_of_its_shape(api: Any, admin: str, value: str) -> None:
    before = _snapshot()
    checked = 0
    for path, method in _routes():
        for name in re.findall(r"{(\w+)}", path):
            given = VALID[name] + "\n" if value == "VALID\n" else value
            response = getattr(api, method.lower())(
                _fill(path, **{name: given}), headers=_headers(path, admin), body=b"{}" if method != "GET" else None
            )
            if (path, name) in SELF_CHECKED:
                known = getattr(api, method.lower())(
                    _fill(path), headers=_headers(path, admin), body=b"{}" if method != "GET" else None
                )
                assert (response.status_code, response.body) == (known.status_code, known.body), (method, path)
                if path.startswith("/wecom/"):
                    _refused(response, 401)
                else:
                    assert response.status_code == 404, (method, path)  # a shared page's plain 404 page
            else:
                assert f"'{name}' must match" in _refused(response, 404), (method, path)
            checked += 1
    assert checked > 35
    assert _snapshot() == before


def test_every_path_parameter_has_a_declared_shape_that_its_valid_example_has() -> None:
    for path, _ in _routes():
        for name in re.findall(r"{(\w+)}", path):
            if (path, name) not in SELF_CHECKED:
                assert re.fullmatch(PATH_PARAMS[name].pattern, VALID[name]), name


def _cursor(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).decode()


@pytest.mark.parametrize(
    "cursor",
    [_cursor(b"[" * 1500 + b"]" * 1500)[:2000], _cursor(b'"\\ud800"'), _cursor(b"\xff"), "!" * 100, "x" * 5000],
    ids=["deep", "surrogate", "not-utf8", "not-base64", "too-long"],
)
def test_hostile_cursors_are_400(api: Any, admin: str, cursor: str) -> None:
    for path in ("/v1/audit", "/v1/customers", "/v1/broadcasts", "/v1/employees", "/v1/materials", "/ops/tenants"):
        response = api.get(f"{path}?cursor={quote(cursor)}", headers=_headers(path, admin))
        _refused(response, 400)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/ops/tenants", {"name": "Acme\n", "corp_id": "ww1", "agent_id": 1, "app_secret": "s"}, "name"),
        ("/ops/tenants", {"name": "Acme", "corp_id": "ww1\n", "agent_id": 1, "app_secret": "s"}, "corp_id"),
        (
            "/ops/tenants",
            {"name": "A", "corp_id": "ww1", "agent_id": 1, "app_secret": "s", "tenant_id": "abc\n"},
            "tenant_id",
        ),
        ("/v1/api-keys", {"role": "sales", "employee_userid": "zhangsan\n"}, "employee_userid"),
        (
            "/v1/transfers",
            {"handover_userid": "a\n", "takeover_userid": "b", "external_userids": ["wm1"]},
            "handover_userid",
        ),
        ("/v1/channels", {"name": "Fair", "userids": ["zhangsan"], "state": "fair2024\n"}, "state"),
        ("/v1/channels", {"name": "Fair", "userids": ["zhangsan\n"]}, "userids[]"),
    ],
    ids=["tenant-name", "corp-id", "tenant-id", "key-userid", "transfer-userid", "channel-state", "channel-userids"],
)
def test_a_trailing_newline_is_refused_and_nothing_is_created(
    api: Any, admin: str, path: str, body: dict[str, Any], field: str
) -> None:
    before = _snapshot()
    response = api.post(path, headers=_headers(path, admin), body=json.dumps(body))
    assert f"field '{field}' must" in _refused(response, 400)
    assert _snapshot() == before


@pytest.mark.parametrize("param", ["tag", "employee"])
def test_id_lists_in_query_strings_are_checked_id_by_id(api: Any, admin: str, param: str) -> None:
    for value in ("x" * 2000, "a,b\nc", "a,b c"):
        response = api.get(f"/v1/customers?{param}={quote(value)}", headers=key_headers(admin))
        assert f"query parameter '{param}' must be" in _refused(response, 400)
    assert api.get(f"/v1/customers?{param}=a,b", headers=key_headers(admin)).status_code == 200
