"""The operator API's access and audit: every `/ops` route is declared with `ops_route`, which puts it behind the IAM
authorizer and checks the request itself (failing closed, see `api/ops.py`), and every write to a tenant is recorded
in that tenant's audit log with `audit_ops`."""

from __future__ import annotations

import functools
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any

from chalice import Blueprint, ForbiddenError, IAMAuthorizer, UnauthorizedError
from chalice.app import Request

from chalicelib.api.errors import answered
from chalicelib.config import Settings, get_settings
from chalicelib.observability import bind_context, logger

OPS_ROLE = "ops"
KEY_AUTH = "key"
IAM_ONLY = "iam-only"
USER_AGENT_MAX = 256
_iam = IAMAuthorizer()


def _check_ops_access(request: Request, settings: Settings) -> None:
    """Let the request in only on the evidence the stage's `OPS_AUTH` asks for; anything else is refused."""
    if settings.ops_auth == IAM_ONLY:
        if not _identity(request).get("userArn"):
            logger.error("ops request without an IAM caller on an iam-only stage")
            raise UnauthorizedError("IAM (SigV4) authorization is required")
        return
    if settings.ops_auth != KEY_AUTH or not settings.ops_key_sha256:
        logger.error("ops access is not configured", extra={"ops_auth": settings.ops_auth})
        raise ForbiddenError("ops access is not configured on this stage")
    given = (request.headers or {}).get("x-ops-key", "")
    if not hmac.compare_digest(hashlib.sha256(given.encode()).hexdigest(), settings.ops_key_sha256):
        raise UnauthorizedError("a valid X-Ops-Key is required")


def _identity(request: Request) -> dict[str, Any]:
    return (request.context or {}).get("identity") or {}


def ops_route(blueprint: Blueprint, path: str, methods: list[str]) -> Callable[[Callable[..., Any]], Any]:
    """An operator route behind the IAM authorizer and `_check_ops_access`; the handler gets the request and path
    params."""

    def decorate(handler: Callable[..., Any]) -> Any:
        @functools.wraps(handler)
        def view(**params: str) -> Any:
            request = blueprint.current_request
            _check_ops_access(request, get_settings())
            if "tenant_id" in params:
                bind_context(tenant_id=params["tenant_id"])
            return handler(request, **params)

        return blueprint.route(path, methods=methods, authorizer=_iam)(answered(view))

    return decorate


def audit_ops(request: Request, tenant_id: str, action: str, target: str) -> None:
    """Append an operator's write to the tenant's audit log: key and role "ops", the IAM caller when there is one."""
    from chalicelib.store.audit import AuditEntry, AuditLog

    identity = _identity(request)
    user_agent = (request.headers or {}).get("user-agent")
    AuditLog(tenant_id).append(
        AuditEntry(
            at_ms=int(time.time() * 1000),
            key_id=OPS_ROLE,
            role=OPS_ROLE,
            employee_userid=identity.get("userArn"),
            action=action,
            target=target,
            source_ip=identity.get("sourceIp"),
            user_agent=user_agent[:USER_AGENT_MAX] if user_agent else None,
        )
    )
