"""The tenant's mass-message policy (`/v1/broadcast-policy`: WeCom's receiving rule, the tenant's own quiet rules,
how long results are followed, automatic reminders) and a customer's do-not-disturb flag."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from chalice import Blueprint, NotFoundError

from chalicelib.api.auth import AdminCall, admin_route
from chalicelib.api.schema import rule
from chalicelib.domain.access import READERS, WRITERS
from chalicelib.domain.broadcast_policy import FOLLOW_HOURS_MAX, QUIET_RULES_MAX
from chalicelib.domain.frequency import WeComQuota

admin_broadcast_policy = Blueprint(__name__)

TAG = "broadcasts"


@dataclass(frozen=True)
class BroadcastPolicyBody:
    quota: str | None = field(
        default=None,
        metadata=rule(
            enum=tuple(q.value for q in WeComQuota),
            description="WeCom's receiving rule as set in 群发助手: month (days in month), week (7), day (1)",
        ),
    )
    quiet_rules: list[dict[str, Any]] | None = field(
        default=None,
        metadata=rule(max_items=QUIET_RULES_MAX, description="The tenant's own rules: {at_most, days} or {gap_hours}"),
    )
    timezone: str | None = field(default=None, metadata=rule(max_length=64, description="IANA name for periods"))
    follow_hours: int | None = field(
        default=None, metadata=rule(minimum=1, maximum=FOLLOW_HOURS_MAX, description="How long results are read")
    )
    auto_remind_after_hours: int | None = field(
        default=None, metadata=rule(minimum=0, maximum=FOLLOW_HOURS_MAX, description="0: no automatic reminder")
    )


@admin_route(
    admin_broadcast_policy,
    "/v1/broadcast-policy",
    methods=["GET"],
    roles=READERS,
    summary="The tenant's mass-message policy and this month's mass messages against the plan",
    tag=TAG,
)
def get_policy(call: AdminCall) -> dict[str, Any]:
    from chalicelib.services.broadcast_admin import quota_status
    from chalicelib.store.broadcasts import BroadcastStore

    tenant_id = call.principal.tenant_id
    return {"policy": BroadcastStore(tenant_id).get_policy().to_json(), "usage": quota_status(tenant_id)}


@admin_route(
    admin_broadcast_policy,
    "/v1/broadcast-policy",
    methods=["PUT"],
    roles=WRITERS,
    summary="Set the mass-message policy (fields left out keep their value)",
    tag=TAG,
    body=BroadcastPolicyBody,
    audit="broadcast_policy.update",
)
def put_policy(call: AdminCall) -> dict[str, Any]:
    from chalicelib.services.broadcast_admin import update_policy

    body: BroadcastPolicyBody = call.body
    policy = update_policy(call.principal.tenant_id, dataclasses.asdict(body))
    return {"policy": policy.to_json()}


@admin_route(
    admin_broadcast_policy,
    "/v1/customers/{customer_id}/do-not-disturb",
    methods=["PUT", "DELETE"],
    roles=WRITERS,
    summary="Put a customer on the do-not-disturb list (PUT) or take them off (DELETE): no mass messages while on it",
    tag=TAG,
    audit="customer.do_not_disturb",
)
def do_not_disturb(call: AdminCall, customer_id: str) -> dict[str, Any]:
    from chalicelib.store.customers import CustomerStore

    store = CustomerStore(call.principal.tenant_id)
    if not store.get_follows(customer_id) and store.get_profile(customer_id) is None:
        raise NotFoundError("no such customer")
    on = call.request.method == "PUT"
    store.set_do_not_disturb(customer_id, on)
    call.target = customer_id
    return {"customer_id": customer_id, "do_not_disturb": on}
