"""The admin API's toolkit: the API-key authorizer, the caller (Principal), role/feature/standing checks, audit.

An admin route is declared once with `admin_route(blueprint, path, methods=..., roles=..., summary=..., ...)`: that
attaches the authorizer, runs the tenant checks (standing → 402/403, role → 403, plan feature → 402), parses the typed
body (a route without one takes at most `{}`), records the route in the OpenAPI document and, for writes, appends one
audit entry after success. Its path parameters must have a declared shape (`api.path_params`). The handler
gets an `AdminCall` and the path parameters:

    @admin_route(customers, "/v1/customers/{customer_id}", methods=["PATCH"], roles=WRITERS,
                 summary="Update a customer", body=UpdateCustomer, audit="customer.update", tag="customers")
    def update_customer(call: AdminCall, customer_id: str) -> dict:
        call.target = customer_id
        return Customers(call.principal.tenant_id).update(customer_id, call.body).as_dict()

The authorizer is not cached by API Gateway (`ttl_seconds=0`): a revoked key fails on its next call.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalice import (
    AuthResponse,
    Blueprint,
    ChaliceViewError,
    ForbiddenError,
    Response,
    UnauthorizedError,
)
from chalice.app import AuthRequest, Request

from chalicelib.api import openapi
from chalicelib.api.errors import answered
from chalicelib.api.path_params import undeclared
from chalicelib.api.schema import NoBody, parse_body
from chalicelib.domain.access import Principal
from chalicelib.domain.plans import Standing, get_plan, standing
from chalicelib.observability import bind_context

auth = Blueprint(__name__)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
USER_AGENT_MAX = 256


class PaymentRequiredError(ChaliceViewError):
    STATUS_CODE = 402


@auth.authorizer(ttl_seconds=0, name="api_key")
def api_key(auth_request: AuthRequest) -> AuthResponse:
    """Resolve `Authorization: Bearer qrk.<tenant>.<key_id>.<secret>` to (tenant, role, employee, key id)."""
    from chalicelib.store.api_keys import authenticate

    token = auth_request.token or ""
    if token[:7].lower() == "bearer ":
        token = token[7:]
    key = authenticate(token.strip())
    if key is None:
        return AuthResponse(routes=[], principal_id="anonymous")
    return AuthResponse(
        routes=["*"],
        principal_id=f"{key.tenant_id}/{key.key_id}",
        context={
            "tenant_id": key.tenant_id,
            "role": key.role,
            "employee_userid": key.employee_userid or "",
            "key_id": key.key_id,
        },
    )


def current_principal(request: Request) -> Principal:
    """The caller of an admin route, from what the authorizer resolved (never from the URL)."""
    context = (request.context or {}).get("authorizer") or {}
    if not context.get("tenant_id") or not context.get("key_id"):
        raise UnauthorizedError("an API key is required")
    return Principal(
        tenant_id=context["tenant_id"],
        role=context["role"],
        employee_userid=context.get("employee_userid") or None,
        key_id=context["key_id"],
    )


def require_role(principal: Principal, *roles: str) -> None:
    """403 unless the caller's role is one of `roles`."""
    if principal.role not in roles:
        raise ForbiddenError(f"the {principal.role} role may not do this")


def require_standing(principal: Principal) -> None:
    """402 when the tenant's period ended, 403 when it is suspended, with the reason."""
    from chalicelib.store.tenants import get_tenant_cached

    tenant = get_tenant_cached(principal.tenant_id)
    if tenant is None:
        raise ForbiddenError("this tenant no longer exists")
    now_standing = standing(tenant.status, tenant.expires_at, int(time.time()))
    if now_standing is Standing.SUSPENDED:
        raise ForbiddenError(f"tenant suspended: {tenant.status_reason or 'contact support'}")
    if now_standing is Standing.EXPIRED:
        raise PaymentRequiredError(f"the {tenant.plan} plan expired; renew it to continue")


def require_feature(principal: Principal, feature: str) -> None:
    """The tenant is in good standing and its plan includes `feature` (402 when it does not)."""
    from chalicelib.store.tenants import get_tenant_cached

    require_standing(principal)
    tenant = get_tenant_cached(principal.tenant_id)
    if tenant is not None and not get_plan(tenant.plan).allows(feature):
        raise PaymentRequiredError(f"the {tenant.plan} plan does not include {feature}")


def record_audit(principal: Principal, action: str, target: str, request: Request) -> None:
    """Append who did what to what, from which IP and user agent, to the tenant's audit log."""
    from chalicelib.store.audit import AuditEntry, AuditLog

    identity = (request.context or {}).get("identity") or {}
    user_agent = (request.headers or {}).get("user-agent")
    AuditLog(principal.tenant_id).append(
        AuditEntry(
            at_ms=int(time.time() * 1000),
            key_id=principal.key_id,
            role=principal.role,
            employee_userid=principal.employee_userid,
            action=action,
            target=target,
            source_ip=identity.get("sourceIp"),
            user_agent=user_agent[:USER_AGENT_MAX] if user_agent else None,
        )
    )


@dataclass
class AdminCall:
    """What an admin handler works with: the caller, the request, the parsed body; `target` names what a write
    touched in the audit log (the request path when left unset)."""

    principal: Principal
    request: Request
    body: Any = None
    target: str | None = field(default=None)


def admin_route(
    blueprint: Blueprint,
    path: str,
    *,
    methods: list[str],
    roles: tuple[str, ...],
    summary: str,
    tag: str,
    body: type | None = None,
    feature: str | None = None,
    audit: str | None = None,
    success_status: int = 200,
    query: tuple[tuple[str, str, str], ...] = (),
) -> Callable[[Callable[..., Any]], Any]:
    """Register an admin route with its checks, its OpenAPI entry and (for writes) its audit action."""
    writes = bool(WRITE_METHODS & set(methods))
    if writes and not audit:
        raise ValueError(f"{path}: a write route must name its audit action")
    if undeclared(path):
        raise ValueError(f"{path}: declare the shape of {', '.join(undeclared(path))} in api.path_params")

    def decorate(handler: Callable[..., Any]) -> Any:
        for method in methods:
            openapi.declare(openapi.Operation(method, path, summary, roles, tag, body, success_status, query))

        @functools.wraps(handler)
        def view(**params: str) -> Any:
            request = blueprint.current_request
            principal = current_principal(request)
            bind_context(tenant_id=principal.tenant_id, key_id=principal.key_id)
            if feature:
                require_feature(principal, feature)
            else:
                require_standing(principal)
            require_role(principal, *roles)
            parsed = parse_body(request, body or NoBody)
            call = AdminCall(principal, request, parsed if body is not None else None)
            result = handler(call, **params)
            status = result.status_code if isinstance(result, Response) else 200
            if audit and request.method in WRITE_METHODS and status < 400:
                record_audit(principal, audit, call.target or request.path, request)
            return result

        return blueprint.route(path, methods=methods, authorizer=api_key)(answered(view))

    return decorate
