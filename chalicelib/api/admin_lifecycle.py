"""Customer lifecycle admin API: the departure policy (`/v1/lifecycle-policy`), in-service transfers between active
employees (`/v1/transfers`, the same path the departure worker uses), and the events the worker recorded instead of
applying (`/v1/recorded-events`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from chalice import BadRequestError, Blueprint

from chalicelib.api.auth import AdminCall, admin_route
from chalicelib.api.schema import int_param, rule
from chalicelib.domain import wecom_ids
from chalicelib.domain.access import ADMINS, READERS, WRITERS
from chalicelib.domain.lifecycle import DeparturePolicy, SuccessorRule

admin_lifecycle = Blueprint(__name__)

TAG = "lifecycle"
TRANSFER_REQUEST_MAX_CUSTOMERS = 1000


@dataclass(frozen=True)
class PolicyBody:
    successor_rule: str = field(metadata=rule(enum=tuple(r.value for r in SuccessorRule)))
    named_successor: str | None = field(default=None, metadata=rule(pattern=wecom_ids.USERID))
    alert_manager: str | None = field(
        default=None, metadata=rule(pattern=wecom_ids.USERID, description="Also alerted when a customer is lost")
    )


@dataclass(frozen=True)
class TransferBody:
    handover_userid: str = field(metadata=rule(pattern=wecom_ids.USERID))
    takeover_userid: str = field(metadata=rule(pattern=wecom_ids.USERID))
    external_userids: list[str] = field(
        metadata=rule(pattern=wecom_ids.EXTERNAL_USERID, max_items=TRANSFER_REQUEST_MAX_CUSTOMERS)
    )


def _context(call: AdminCall) -> Any:
    from chalicelib.services.tenant_context import TenantContext

    return TenantContext(call.principal.tenant_id)


@admin_route(
    admin_lifecycle,
    "/v1/lifecycle-policy",
    methods=["GET"],
    roles=READERS,
    summary="Who inherits a departed employee's customers; who else hears of a lost customer",
    tag=TAG,
)
def get_policy(call: AdminCall) -> dict[str, Any]:
    return {"policy": _context(call).transfers.get_policy().as_dict()}


@admin_route(
    admin_lifecycle,
    "/v1/lifecycle-policy",
    methods=["PUT"],
    roles=ADMINS,
    summary="Set the departure policy: named successor, department manager or round robin in the department",
    tag=TAG,
    body=PolicyBody,
    audit="lifecycle_policy.set",
)
def put_policy(call: AdminCall) -> dict[str, Any]:
    body: PolicyBody = call.body
    if body.successor_rule == SuccessorRule.NAMED.value and not body.named_successor:
        raise BadRequestError("the named rule needs named_successor")
    policy = DeparturePolicy(SuccessorRule(body.successor_rule), body.named_successor or "", body.alert_manager or "")
    _context(call).transfers.set_policy(policy)
    return {"policy": policy.as_dict()}


@admin_route(
    admin_lifecycle,
    "/v1/transfers",
    methods=["POST"],
    roles=WRITERS,
    summary="Move customers between active employees (在职继承); WeCom asks each customer, results are tracked",
    tag=TAG,
    body=TransferBody,
    audit="transfer.start",
)
def start_transfer(call: AdminCall) -> dict[str, Any]:
    from chalicelib.services.transfers import start_transfers
    from chalicelib.store.transfers import ON_JOB

    body: TransferBody = call.body
    if body.handover_userid == body.takeover_userid:
        raise BadRequestError("handover and takeover must differ")
    if not body.external_userids:
        raise BadRequestError("field 'external_userids' needs at least one customer")
    statuses = start_transfers(
        _context(call),
        ON_JOB,
        body.handover_userid,
        body.takeover_userid,
        body.external_userids,
        int(time.time()),
    )
    call.target = f"{body.handover_userid}->{body.takeover_userid}"
    return {"customers": [{"external_userid": e, "status": s.value} for e, s in sorted(statuses.items())]}


@admin_route(
    admin_lifecycle,
    "/v1/recorded-events",
    methods=["GET"],
    roles=READERS,
    summary="WeCom events recorded instead of applied (unknown kinds, transfer failures, WeCom errors), newest first",
    tag=TAG,
    query=(("limit", "integer", "At most this many (1-100, default 50)"),),
)
def recorded_events(call: AdminCall) -> dict[str, Any]:
    limit = int_param(call.request, "limit", 50, 1, 100)
    events = _context(call).event_log.recorded(limit)
    return {
        "events": [
            {"kind": e.kind, "reason": e.reason, "detail": e.detail, "recorded_at": e.recorded_at, "event": e.event}
            for e in events
        ]
    }
