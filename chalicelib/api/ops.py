"""The SaaS operator's API (`/ops/...`): tenants, their secrets, plans, standing, usage and health.

Access fails closed. Every route has the IAM (SigV4) authorizer, which API Gateway enforces when deployed and
Chalice does not enforce locally, and every request is checked here as well (`OPS_AUTH`, see `Settings`): by default
it must carry `X-Ops-Key` whose SHA-256 is `OPS_KEY_SHA256`, and with no key configured every request is refused, so
a stage that forgot its configuration is closed, not open. Only a stage that sets `OPS_AUTH=iam-only` (the deployed
ones) relies on IAM alone, and even then a request must show the IAM caller API Gateway authenticated. The local
stack opts in with its own ops key.

Every write to a tenant is appended to that tenant's audit log with the role "ops", beside its admins' writes.
Secrets are returned only once: generated callback token / EncodingAESKey at creation or rotation, and API key tokens.
The callback URL shown is built from `PUBLIC_BASE_URL`, never from the request's Host header, which the caller
chooses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from chalice import (
    BadRequestError,
    Blueprint,
    ChaliceViewError,
    ConflictError,
    NotFoundError,
    Response,
)
from chalice.app import Request

from chalicelib.api.ops_access import audit_ops, ops_route
from chalicelib.api.schema import ONE_LINE, NoBody, int_param, parse_body, rule, str_param
from chalicelib.config import get_settings
from chalicelib.domain import plans
from chalicelib.domain.access import ADMIN, ROLES, InvalidRole
from chalicelib.observability import logger
from chalicelib.store.keys import TENANT_ID_PATTERN

if TYPE_CHECKING:
    from chalicelib.store.tenants import Tenant
    from chalicelib.store.usage import Usage

ops = Blueprint(__name__)


TENANT_ID_RULE = TENANT_ID_PATTERN.pattern
CORP_ID_RULE = r"^[A-Za-z0-9]{1,64}$"
APP_SECRET_RULE = r"^[A-Za-z0-9_-]{1,128}$"  # noqa: S105 - a pattern, not a secret
CALLBACK_TOKEN_RULE = r"^[A-Za-z0-9]{3,32}$"  # noqa: S105
ENCODING_AES_KEY_RULE = r"^[A-Za-z0-9]{43}$"
REGION_RULE = r"^[a-z]{2}(-[a-z]+)+-\d$"
PAID_PLANS = tuple(name for name, plan in plans.PLANS.items() if plan.trial_days is None)


def _tenant_or_404(tenant_id: str) -> Tenant:
    from chalicelib.store import tenants

    tenant = tenants.get_tenant(tenant_id)
    if tenant is None:
        raise NotFoundError("no such tenant")
    return tenant


def _callback_url(tenant_id: str) -> str:
    """Where WeCom must send the tenant's callbacks: under `PUBLIC_BASE_URL`; a 500 saying so when it is unset."""
    base = get_settings().public_base_url
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        logger.error("PUBLIC_BASE_URL is not set to an absolute http(s) URL")
        raise ChaliceViewError("PUBLIC_BASE_URL is not configured for this stage; the callback URL cannot be shown")
    return f"{base}/wecom/{tenant_id}/callback"


def _trusted_ips() -> list[str]:
    """The region's egress IPs, which the tenant lists as its app's trusted IPs (企业可信IP, WECOM.md §9.1)."""
    return list(get_settings().egress_ips)


@dataclass(frozen=True)
class CreateTenant:
    name: str = field(metadata=rule(min_length=1, max_length=100, pattern=ONE_LINE))
    corp_id: str = field(metadata=rule(pattern=CORP_ID_RULE, description="WeCom corp id"))
    agent_id: int = field(metadata=rule(minimum=1, maximum=2**31 - 1, description="The self-built app's agent id"))
    app_secret: str = field(metadata=rule(pattern=APP_SECRET_RULE, description="The self-built app's secret"))
    tenant_id: str | None = field(default=None, metadata=rule(pattern=TENANT_ID_RULE))
    callback_token: str | None = field(default=None, metadata=rule(pattern=CALLBACK_TOKEN_RULE))
    encoding_aes_key: str | None = field(default=None, metadata=rule(pattern=ENCODING_AES_KEY_RULE))
    region: str | None = field(default=None, metadata=rule(pattern=REGION_RULE))
    plan: str = field(default=plans.TRIAL, metadata=rule(enum=tuple(plans.PLANS)))
    paid_days: int | None = field(default=None, metadata=rule(minimum=1, maximum=3660))


@ops_route(ops, "/ops/tenants", methods=["POST"])
def create_tenant(request: Request) -> Response:
    from chalicelib.store import secrets as tenant_secrets
    from chalicelib.store import tenants
    from chalicelib.store.api_keys import ApiKeys

    body = parse_body(request, CreateTenant)
    plan = plans.get_plan(body.plan)
    now = int(time.time())
    try:
        expires_at = plans.first_expiry(plan, now, body.paid_days)
    except ValueError as error:
        raise BadRequestError(f"{error} (paid_days)") from None
    tenant_id = body.tenant_id or tenants.new_tenant_id()
    callback_url = _callback_url(tenant_id)
    callback = {
        tenant_secrets.CALLBACK_TOKEN: body.callback_token or tenant_secrets.new_callback_token(),
        tenant_secrets.ENCODING_AES_KEY: body.encoding_aes_key or tenant_secrets.new_encoding_aes_key(),
    }
    tenant = tenants.Tenant(
        tenant_id=tenant_id,
        name=body.name,
        corp_id=body.corp_id,
        agent_id=body.agent_id,
        region=body.region or get_settings().region,
        plan=plan.name,
        status=plans.ACTIVE_STATUS,
        status_reason=None,
        expires_at=expires_at,
        created_at=now,
        updated_at=now,
    )
    try:
        tenants.create_tenant(tenant, {tenant_secrets.APP_SECRET: body.app_secret, **callback})
    except tenants.TenantExists:
        raise ConflictError(f"tenant {tenant.tenant_id} already exists") from None
    audit_ops(request, tenant_id, "tenant.create", tenant_id)
    issued = ApiKeys(tenant_id).issue(ADMIN, label="first admin key")
    audit_ops(request, tenant_id, "api_key.create", issued.key.key_id)
    logger.info("tenant created", extra={"tenant_id": tenant_id, "plan": plan.name})
    answer = {
        "tenant": tenant.as_dict(),
        "callback": {"url": callback_url, **callback},
        "trusted_ips": _trusted_ips(),
        "admin_key": {"key": issued.key.as_dict(), "token": issued.token},
        "shown_once": ["callback.callback_token", "callback.encoding_aes_key", "admin_key.token"],
    }
    return Response(answer, status_code=201)


def _overview(tenant: Tenant, counts: Usage, now: int) -> dict[str, Any]:
    from chalicelib.store import usage

    now_standing = plans.standing(tenant.status, tenant.expires_at, now)
    return {
        "tenant": tenant.as_dict(),
        "standing": now_standing.name.lower(),
        "usage": counts.as_dict(),
        "last_callback_at": counts.last_at.get(usage.CALLBACKS),
        "flags": plans.health_flags(
            standing_now=now_standing,
            expires_at=tenant.expires_at,
            now=now,
            plan=plans.get_plan(tenant.plan),
            usage=counts.counts,
            last_callback_at=counts.last_at.get(usage.CALLBACKS),
        ),
    }


@ops_route(ops, "/ops/tenants", methods=["GET"])
def list_tenants(request: Request) -> dict[str, Any]:
    from chalicelib.store import tenants, usage

    limit = int_param(request, "limit", 50, 1, 100)
    try:
        page, next_cursor = tenants.list_tenants(limit, str_param(request, "cursor"))
    except tenants.InvalidCursor:
        raise BadRequestError("invalid cursor") from None
    now = int(time.time())
    month = usage.month_of(now)
    counts = usage.usage_of([t.tenant_id for t in page], month)
    rows = [_overview(t, counts[t.tenant_id], now) for t in page]
    totals: dict[str, int] = {}
    for row in rows:
        for metric, n in row["usage"]["counts"].items():
            totals[metric] = totals.get(metric, 0) + n
    summary = {
        "tenants": len(rows),
        "by_standing": {s: sum(1 for r in rows if r["standing"] == s) for s in ("active", "expired", "suspended")},
        "flagged": sum(1 for r in rows if r["flags"]),
        "usage": totals,
    }
    return {"month": month, "tenants": rows, "summary": summary, "next_cursor": next_cursor}


@ops_route(ops, "/ops/tenants/{tenant_id}", methods=["GET"])
def get_tenant(request: Request, tenant_id: str) -> dict[str, Any]:
    from chalicelib.store import usage
    from chalicelib.store.api_keys import ApiKeys

    tenant = _tenant_or_404(tenant_id)
    now = int(time.time())
    month = usage.month_of(now)
    overview = _overview(tenant, usage.usage_of([tenant_id], month)[tenant_id], now)
    keys = ApiKeys(tenant_id).list()
    recent = now - 30 * plans.DAY
    overview |= {
        "month": month,
        "plan": plans.get_plan(tenant.plan).as_dict(),
        "active_keys": sum(1 for k in keys if k.active),
        "active_admins": sum(1 for k in keys if k.active and k.last_used_at is not None and k.last_used_at >= recent),
        "trusted_ips": _trusted_ips(),
    }
    return overview


@dataclass(frozen=True)
class RotateSecrets:
    app_secret: str | None = field(default=None, metadata=rule(pattern=APP_SECRET_RULE))
    callback_token: str | None = field(default=None, metadata=rule(pattern=CALLBACK_TOKEN_RULE))
    encoding_aes_key: str | None = field(default=None, metadata=rule(pattern=ENCODING_AES_KEY_RULE))
    regenerate_callback: bool = field(
        default=False, metadata=rule(description="Generate a new callback token and EncodingAESKey (shown once)")
    )


@ops_route(ops, "/ops/tenants/{tenant_id}/secrets", methods=["POST"])
def rotate_secrets(request: Request, tenant_id: str) -> dict[str, Any]:
    from chalicelib.store import secrets as tenant_secrets
    from chalicelib.store import tenants

    body = parse_body(request, RotateSecrets)
    given = {
        name: value
        for name, value in (
            (tenant_secrets.APP_SECRET, body.app_secret),
            (tenant_secrets.CALLBACK_TOKEN, body.callback_token),
            (tenant_secrets.ENCODING_AES_KEY, body.encoding_aes_key),
        )
        if value is not None
    }
    generated: dict[str, str] = {}
    if body.regenerate_callback:
        if tenant_secrets.CALLBACK_TOKEN in given or tenant_secrets.ENCODING_AES_KEY in given:
            raise BadRequestError("give callback values or regenerate_callback, not both")
        generated = {
            tenant_secrets.CALLBACK_TOKEN: tenant_secrets.new_callback_token(),
            tenant_secrets.ENCODING_AES_KEY: tenant_secrets.new_encoding_aes_key(),
        }
    if not given and not generated:
        raise BadRequestError("nothing to rotate")
    callback_url = _callback_url(tenant_id) if generated else None
    rotated = sorted({**given, **generated})
    try:
        tenants.rotate_secrets(tenant_id, {**given, **generated})
    except tenants.TenantNotFound:
        raise NotFoundError("no such tenant") from None
    audit_ops(request, tenant_id, "tenant.secrets.rotate", ",".join(rotated))
    logger.info("tenant secrets rotated", extra={"rotated": rotated})
    answer: dict[str, Any] = {"rotated": rotated}
    if generated:
        answer["callback"] = {"url": callback_url, **generated}
    return answer


@dataclass(frozen=True)
class ChangePlan:
    plan: str = field(metadata=rule(enum=PAID_PLANS, description="A paid plan; the trial is only for new tenants"))
    paid_days: int | None = field(default=None, metadata=rule(minimum=1, maximum=3660))


@ops_route(ops, "/ops/tenants/{tenant_id}/plan", methods=["POST"])
def change_plan(request: Request, tenant_id: str) -> dict[str, Any]:
    body = parse_body(request, ChangePlan)
    tenant = _tenant_or_404(tenant_id)
    now = int(time.time())
    expires_at = tenant.expires_at
    if body.paid_days:
        expires_at = plans.renewed_expiry(tenant.expires_at, now, body.paid_days)
    updated = _update(tenant_id, now, plan=body.plan, expires_at=expires_at)
    audit_ops(request, tenant_id, "tenant.plan", body.plan)
    return {"tenant": updated.as_dict()}


@dataclass(frozen=True)
class Renew:
    days: int = field(metadata=rule(minimum=1, maximum=3660))


@ops_route(ops, "/ops/tenants/{tenant_id}/renew", methods=["POST"])
def renew(request: Request, tenant_id: str) -> dict[str, Any]:
    body = parse_body(request, Renew)
    tenant = _tenant_or_404(tenant_id)
    if plans.get_plan(tenant.plan).trial_days is not None:
        raise ConflictError("a trial is not renewed; change the tenant to a paid plan")
    now = int(time.time())
    updated = _update(tenant_id, now, expires_at=plans.renewed_expiry(tenant.expires_at, now, body.days))
    audit_ops(request, tenant_id, "tenant.renew", f"{body.days} days")
    return {"tenant": updated.as_dict()}


@dataclass(frozen=True)
class Suspend:
    reason: str = field(
        metadata=rule(min_length=1, max_length=200, pattern=ONE_LINE, description="Shown to the tenant's admins")
    )


@ops_route(ops, "/ops/tenants/{tenant_id}/suspend", methods=["POST"])
def suspend(request: Request, tenant_id: str) -> dict[str, Any]:
    body = parse_body(request, Suspend)
    updated = _update(tenant_id, int(time.time()), status=plans.SUSPENDED_STATUS, status_reason=body.reason)
    audit_ops(request, tenant_id, "tenant.suspend", tenant_id)
    return {"tenant": updated.as_dict()}


@ops_route(ops, "/ops/tenants/{tenant_id}/resume", methods=["POST"])
def resume(request: Request, tenant_id: str) -> dict[str, Any]:
    parse_body(request, NoBody)
    updated = _update(tenant_id, int(time.time()), status=plans.ACTIVE_STATUS, status_reason=None)
    audit_ops(request, tenant_id, "tenant.resume", tenant_id)
    return {"tenant": updated.as_dict()}


@dataclass(frozen=True)
class CreateKey:
    role: str = field(default=ADMIN, metadata=rule(enum=ROLES))
    employee_userid: str | None = field(default=None, metadata=rule(pattern=r"^[A-Za-z0-9_.@-]{1,64}$"))
    label: str | None = field(default=None, metadata=rule(min_length=1, max_length=100, pattern=ONE_LINE))


@ops_route(ops, "/ops/tenants/{tenant_id}/api-keys", methods=["POST"])
def create_key(request: Request, tenant_id: str) -> Response:
    from chalicelib.store.api_keys import ApiKeys

    body = parse_body(request, CreateKey)
    _tenant_or_404(tenant_id)
    try:
        issued = ApiKeys(tenant_id).issue(body.role, body.employee_userid, body.label)
    except InvalidRole as error:
        raise BadRequestError(str(error)) from None
    audit_ops(request, tenant_id, "api_key.create", issued.key.key_id)
    return Response({"key": issued.key.as_dict(), "token": issued.token}, status_code=201)


def _update(tenant_id: str, now: int, **changes: object) -> Tenant:
    from chalicelib.store import tenants

    if not TENANT_ID_PATTERN.fullmatch(tenant_id):
        raise NotFoundError("no such tenant")
    try:
        return tenants.update_tenant(tenant_id, now, **changes)
    except tenants.TenantNotFound:
        raise NotFoundError("no such tenant") from None
