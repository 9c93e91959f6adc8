"""Tenant admins manage their own API keys and read their audit log (`/v1/api-keys`, `/v1/audit`, `/v1/me`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from chalice import BadRequestError, Blueprint, ConflictError, NotFoundError, Response

from chalicelib.api.auth import AdminCall, admin_route
from chalicelib.api.schema import ONE_LINE, int_param, rule, str_param
from chalicelib.domain import wecom_ids
from chalicelib.domain.access import ADMINS, EVERYONE, ROLES, InvalidRole
from chalicelib.domain.plans import get_plan, standing

admin_access = Blueprint(__name__)


@dataclass(frozen=True)
class CreateApiKey:
    role: str = field(metadata=rule(enum=ROLES, description="admin, operator, viewer or sales"))
    employee_userid: str | None = field(
        default=None, metadata=rule(pattern=wecom_ids.USERID, description="The employee a sales key speaks for")
    )
    label: str | None = field(default=None, metadata=rule(min_length=1, max_length=100, pattern=ONE_LINE))


@admin_route(
    admin_access, "/v1/me", methods=["GET"], roles=EVERYONE, summary="Who am I: tenant, role, plan", tag="access"
)
def get_me(call: AdminCall) -> dict[str, Any]:
    from chalicelib.store.tenants import get_tenant_cached

    principal = call.principal
    tenant = get_tenant_cached(principal.tenant_id)
    assert tenant is not None
    return {
        "tenant_id": principal.tenant_id,
        "role": principal.role,
        "employee_userid": principal.employee_userid,
        "key_id": principal.key_id,
        "plan": get_plan(tenant.plan).as_dict(),
        "standing": standing(tenant.status, tenant.expires_at, int(time.time())).name.lower(),
        "expires_at": tenant.expires_at,
    }


@admin_route(admin_access, "/v1/api-keys", methods=["GET"], roles=ADMINS, summary="List API keys", tag="access")
def list_api_keys(call: AdminCall) -> dict[str, Any]:
    from chalicelib.store.api_keys import ApiKeys

    return {"keys": [key.as_dict() for key in ApiKeys(call.principal.tenant_id).list()]}


@admin_route(
    admin_access,
    "/v1/api-keys",
    methods=["POST"],
    roles=ADMINS,
    summary="Create an API key (its token is shown once)",
    tag="access",
    body=CreateApiKey,
    audit="api_key.create",
    success_status=201,
)
def create_api_key(call: AdminCall) -> Response:
    from chalicelib.store.api_keys import ApiKeys

    body: CreateApiKey = call.body
    try:
        issued = ApiKeys(call.principal.tenant_id).issue(body.role, body.employee_userid, body.label)
    except InvalidRole as error:
        raise BadRequestError(str(error)) from None
    call.target = issued.key.key_id
    return Response({"key": issued.key.as_dict(), "token": issued.token}, status_code=201)


@admin_route(admin_access, "/v1/api-keys/{key_id}", methods=["GET"], roles=ADMINS, summary="One API key", tag="access")
def get_api_key(call: AdminCall, key_id: str) -> dict[str, Any]:
    from chalicelib.store.api_keys import ApiKeys

    key = ApiKeys(call.principal.tenant_id).get(key_id)
    if key is None:
        raise NotFoundError("no such API key")
    return {"key": key.as_dict()}


@admin_route(
    admin_access,
    "/v1/api-keys/{key_id}/rotate",
    methods=["POST"],
    roles=ADMINS,
    summary="Give a key a new secret (shown once); the old token fails at once",
    tag="access",
    audit="api_key.rotate",
)
def rotate_api_key(call: AdminCall, key_id: str) -> dict[str, Any]:
    from chalicelib.store.api_keys import ApiKeys

    issued = ApiKeys(call.principal.tenant_id).rotate(key_id)
    if issued is None:
        raise NotFoundError("no such active API key")
    call.target = key_id
    return {"key": issued.key.as_dict(), "token": issued.token}


@admin_route(
    admin_access,
    "/v1/api-keys/{key_id}",
    methods=["DELETE"],
    roles=ADMINS,
    summary="Revoke an API key; it fails at once",
    tag="access",
    audit="api_key.revoke",
)
def revoke_api_key(call: AdminCall, key_id: str) -> dict[str, Any]:
    from chalicelib.store.api_keys import ApiKeys, LastAdminKey

    try:
        revoked = ApiKeys(call.principal.tenant_id).revoke(key_id)
    except LastAdminKey:
        raise ConflictError("this is the tenant's last active admin key; create another admin key first") from None
    if revoked is None:
        raise NotFoundError("no such active API key")
    call.target = key_id
    return {"key": revoked.as_dict()}


@admin_route(
    admin_access,
    "/v1/audit",
    methods=["GET"],
    roles=ADMINS,
    summary="The audit log of admin writes, newest first",
    tag="access",
    query=(("limit", "integer", "1 to 100, default 50"), ("cursor", "string", "next_cursor of the previous page")),
)
def list_audit(call: AdminCall) -> dict[str, Any]:
    from chalicelib.store import audit as audit_store

    limit = int_param(call.request, "limit", 50, 1, 100)
    cursor = str_param(call.request, "cursor", 128)
    try:
        entries, next_cursor = audit_store.AuditLog(call.principal.tenant_id).page(limit, cursor)
    except audit_store.InvalidCursor:
        raise BadRequestError("invalid cursor") from None
    return {"entries": [entry.as_dict() for entry in entries], "next_cursor": next_cursor}
