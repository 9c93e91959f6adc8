import pytest

from app import app
from chalicelib.api import openapi
from tests.tenancy import call, create_tenant, key_headers

pytestmark = pytest.mark.filterwarnings("ignore:IAMAuthorizer is not a supported in local mode")


@pytest.fixture
def admin(api):
    return create_tenant(api, tenant_id="acme")["admin_key"]["token"]


def test_the_authorizer_refuses_missing_malformed_forged_and_wrong_tenant_keys(api, admin):
    assert api.get("/v1/me").status_code == 401
    _, tenant, key_id, secret = admin.split(".")
    other = create_tenant(api, tenant_id="other")["admin_key"]["token"]
    forged = [
        "garbage",
        f"qrk.{tenant}.{key_id}.{'A' * 43}",
        f"qrk.other.{key_id}.{secret}",
        f"qrk.{tenant}.{other.split('.')[2]}.{other.split('.')[3]}",
        f"Qrk.{tenant}.{key_id}.{secret}",
    ]
    for token in forged:
        assert call(api, "GET", "/v1/me", token).status_code == 403, token
    me = call(api, "GET", "/v1/me", admin).json_body
    assert (me["tenant_id"], me["role"], me["standing"]) == ("acme", "admin", "active")
    assert me["plan"]["name"] == "trial"


def test_keys_are_shown_once_listed_without_secrets_rotated_and_revoked_at_once(api, admin):
    created = call(api, "POST", "/v1/api-keys", admin, {"role": "viewer", "label": "dashboard"})
    assert created.status_code == 201
    viewer = created.json_body["token"]
    viewer_id = created.json_body["key"]["key_id"]
    assert call(api, "GET", "/v1/me", viewer).json_body["role"] == "viewer"

    listing = call(api, "GET", "/v1/api-keys", admin)
    assert viewer.split(".")[3] not in listing.body.decode()
    listed = {k["key_id"]: k for k in listing.json_body["keys"]}
    assert listed[viewer_id]["prefix"] == f"qrk.acme.{viewer_id}"
    assert listed[viewer_id]["last_used_at"] is not None

    rotated = call(api, "POST", f"/v1/api-keys/{viewer_id}/rotate", admin).json_body["token"]
    assert call(api, "GET", "/v1/me", viewer).status_code == 403
    assert call(api, "GET", "/v1/me", rotated).status_code == 200

    assert call(api, "DELETE", f"/v1/api-keys/{viewer_id}", admin).json_body["key"]["active"] is False
    assert call(api, "GET", "/v1/me", rotated).status_code == 403
    assert call(api, "DELETE", f"/v1/api-keys/{viewer_id}", admin).status_code == 404
    assert call(api, "POST", f"/v1/api-keys/{viewer_id}/rotate", admin).status_code == 404


def test_the_last_admin_key_cannot_be_revoked(api, admin):
    admin_id = admin.split(".")[2]
    assert call(api, "DELETE", f"/v1/api-keys/{admin_id}", admin).status_code == 409
    second = call(api, "POST", "/v1/api-keys", admin, {"role": "admin"}).json_body["token"]
    assert call(api, "DELETE", f"/v1/api-keys/{admin_id}", second).status_code == 200
    assert call(api, "GET", "/v1/me", admin).status_code == 403


def test_roles_and_sales_keys(api, admin):
    sales = call(api, "POST", "/v1/api-keys", admin, {"role": "sales", "employee_userid": "zhangsan"}).json_body
    assert sales["key"]["employee_userid"] == "zhangsan"
    assert call(api, "GET", "/v1/me", sales["token"]).json_body["employee_userid"] == "zhangsan"
    assert call(api, "POST", "/v1/api-keys", admin, {"role": "sales"}).status_code == 400
    operator = call(api, "POST", "/v1/api-keys", admin, {"role": "operator"}).json_body["token"]
    for token in (sales["token"], operator):
        assert call(api, "GET", "/v1/api-keys", token).status_code == 403
        assert call(api, "POST", "/v1/api-keys", token, {"role": "admin"}).status_code == 403
        assert call(api, "GET", "/v1/audit", token).status_code == 403


def test_every_write_is_audited_with_who_what_and_where_newest_first_and_paged(api, admin):
    viewer_id = call(api, "POST", "/v1/api-keys", admin, {"role": "viewer"}).json_body["key"]["key_id"]
    call(api, "POST", f"/v1/api-keys/{viewer_id}/rotate", admin)
    call(api, "DELETE", f"/v1/api-keys/{viewer_id}", admin)
    call(api, "POST", "/v1/api-keys", admin, {"role": "nobody"})

    first = call(api, "GET", "/v1/audit?limit=2", admin).json_body
    assert [e["action"] for e in first["entries"]] == ["api_key.revoke", "api_key.rotate"]
    entry = first["entries"][0]
    assert entry["target"] == viewer_id
    assert entry["key_id"] == admin.split(".")[2]
    assert entry["user_agent"] == "pytest-admin"
    assert entry["source_ip"]
    rest = call(api, "GET", f"/v1/audit?limit=2&cursor={first['next_cursor']}", admin).json_body
    assert [e["action"] for e in rest["entries"] if e["role"] != "ops"] == ["api_key.create"]
    assert call(api, "GET", "/v1/audit?cursor=bm9wZQ", admin).status_code == 400
    assert call(api, "GET", "/v1/audit?limit=101", admin).status_code == 400


def test_bad_bodies_get_precise_errors(api, admin):
    headers = key_headers(admin)
    cases = [
        (b'{"role": ', "malformed JSON"),
        (b'"admin"', "JSON object"),
        (b'{"role": 1}', "'role' must be a string"),
        (b'{"role": "root"}', "'role' must be one of"),
        (b'{"role": "admin", "is_root": true}', "unknown field(s): is_root"),
        (b"{}", "'role' is required"),
        (b'{"role": null}', "'role' may not be null"),
        (b'\xff\xfe{"role": "admin"}', "UTF-8"),
    ]
    for raw, message in cases:
        response = api.post("/v1/api-keys", headers=headers, body=raw)
        assert response.status_code == 400, raw
        assert message in response.json_body["Message"]
    huge = api.post("/v1/api-keys", headers=headers, body=b'{"label": "' + b"x" * 70_000 + b'"}')
    assert huge.status_code == 413


def test_openapi_documents_exactly_the_admin_routes_of_the_app(api):
    registered = {
        (method, path) for path, methods in app.routes.items() if path.startswith("/v1/") for method in methods
    }
    assert registered == set(openapi.REGISTRY)
    document = api.get("/openapi.json").json_body
    documented = {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}
    assert documented == registered
    create = document["paths"]["/v1/api-keys"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert create["required"] == ["role"]
    assert create["additionalProperties"] is False
    for path, methods in app.routes.items():
        if path.startswith("/v1/"):
            for method, entry in methods.items():
                assert entry.authorizer is not None, (method, path)
                assert entry.authorizer.name == "api_key", (method, path)
