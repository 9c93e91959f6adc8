"""What the mass-message admin API adds around the engine (`chalicelib.services.broadcasts`): the plan's monthly
quota of mass messages, the group-chat preview, the tenant's policy as an admin writes it, the sales key's view and
cursors that cannot leave the caller's tenant.

Quota: a mass message counts when it is sent (or scheduled), once. A send first takes one of this month's
`mass_messages` with a conditional write that holds only while fewer than the plan's `mass_messages_per_month` are
counted, so concurrent sends can never overshoot the quota; if the start then fails (a second send of the same draft
loses the start's conditional write), the use is given back.
"""

from __future__ import annotations

import time
import zoneinfo
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from chalicelib.domain import plans
from chalicelib.domain.broadcast_policy import QUIET_RULES_MAX, InvalidPolicy, Policy
from chalicelib.domain.broadcasts import (
    Broadcast,
    BroadcastConflict,
    BroadcastNotFound,
    EmployeeResult,
    InvalidBroadcast,
    Status,
)
from chalicelib.domain.frequency import AtMostPerDays, MinimumGap, WeComQuota
from chalicelib.domain.group_audience import InvalidGroupAudience, group_audience
from chalicelib.services.broadcasts import create_broadcast, preview_broadcast, start_broadcast
from chalicelib.services.group_audience import plan_group_audience
from chalicelib.store import usage
from chalicelib.store.broadcasts import BroadcastStore
from chalicelib.store.dynamo import decode_cursor
from chalicelib.store.tenants import get_tenant_cached


def quota_status(tenant_id: str, now: float | None = None) -> dict[str, Any]:
    """This month's mass messages: `{"month", "used", "allowed"}` (allowed from the tenant's plan)."""
    now = time.time() if now is None else now
    month = usage.month_of(now)
    tenant = get_tenant_cached(tenant_id)
    allowed = plans.get_plan(tenant.plan).quotas[plans.MASS_MESSAGES_PER_MONTH] if tenant else 0
    used = usage.usage_of([tenant_id], month)[tenant_id].counts.get(usage.MASS_MESSAGES, 0)
    return {"month": month, "used": used, "allowed": allowed}


@contextmanager
def _one_mass_message(tenant_id: str) -> Iterator[None]:
    """Take one of the month's mass messages for the block (QuotaExceeded when none is left); given back if it fails."""
    now = time.time()
    tenant = get_tenant_cached(tenant_id)
    allowed = plans.get_plan(tenant.plan).quotas[plans.MASS_MESSAGES_PER_MONTH] if tenant else 0
    if not usage.take(tenant_id, usage.MASS_MESSAGES, allowed, now=now):
        status = quota_status(tenant_id, now)
        raise plans.QuotaExceeded(
            f"the {tenant.plan if tenant else 'current'} plan allows {status['allowed']} mass messages a month and "
            f"{status['used']} were sent in {status['month']} (UTC); upgrade the plan or wait for next month"
        )
    try:
        yield
    except BaseException:
        usage.give_back(tenant_id, usage.MASS_MESSAGES, now=now)
        raise


def create(tenant_id: str, *, draft: bool, **fields: Any) -> Broadcast:
    """Create a broadcast (`fields` as `create_broadcast` takes them); unless `draft`, send it within the quota. An
    over-quota send creates nothing."""
    if draft:
        return create_broadcast(tenant_id, start=False, **fields)
    with _one_mass_message(tenant_id):
        broadcast = create_broadcast(tenant_id, start=False, **fields)
        return start_broadcast(tenant_id, broadcast.broadcast_id)


def send(tenant_id: str, broadcast_id: str) -> Broadcast:
    """Send a draft now (or schedule it for its send_at) within the plan's quota."""
    broadcast = BroadcastStore(tenant_id).get(broadcast_id)
    if broadcast is None:
        raise BroadcastNotFound(broadcast_id)
    if broadcast.status != Status.DRAFT:
        raise BroadcastConflict(f"broadcast is {broadcast.status}; only a draft can be sent")
    with _one_mass_message(tenant_id):
        return start_broadcast(tenant_id, broadcast_id)


def preview(
    tenant_id: str,
    *,
    chat_type: str,
    audience: Mapping[str, Any],
    sender: str = "",
    send_at: int | None = None,
    broadcast_id: str = "",
) -> dict[str, Any]:
    """Who a message would reach: customers and employees (senders), batches, skipped by reason. A group-chat
    message reaches the listed chats, or the owners' live chats that match its filter (`domain.group_audience`),
    less those whose receiving quota is used up."""
    if chat_type != "group":
        return preview_broadcast(tenant_id, audience, send_at=send_at)
    if not sender:
        raise InvalidBroadcast("sender: required when chat_type is group")
    try:
        chosen = group_audience(audience, sender)
    except InvalidGroupAudience as error:
        raise InvalidBroadcast(str(error)) from None
    at = int(send_at if send_at is not None else time.time())
    policy = BroadcastStore(tenant_id).get_policy().frequency
    plan = plan_group_audience(tenant_id, chosen, sender, policy, at, broadcast_id)
    return {
        "recipients": plan.recipients,
        "senders": plan.senders,
        "batches": max(1, len(plan.batches)),
        "skipped": dict(plan.skipped),
        "exact": True,
    }


def preview_stored(tenant_id: str, broadcast_id: str) -> dict[str, Any]:
    """The preview of a stored broadcast's audience at its send time (what planning it now would give)."""
    broadcast = BroadcastStore(tenant_id).get(broadcast_id)
    if broadcast is None:
        raise BroadcastNotFound(broadcast_id)
    send_at = max(broadcast.send_at, int(time.time()))
    return preview(
        tenant_id,
        chat_type=broadcast.chat_type,
        audience=broadcast.audience,
        sender=broadcast.sender,
        send_at=send_at,
        broadcast_id=broadcast_id,
    )


# ---- policy ----


def _quiet_rule(index: int, rule: Mapping[str, Any]) -> dict[str, Any]:
    where = f"quiet_rules[{index}]"
    if set(rule) == {"at_most", "days"}:
        count, days = rule["at_most"], rule["days"]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (count, days)):
            raise InvalidPolicy(f"{where}: at_most and days must be integers")
        try:
            AtMostPerDays(count, days)
        except ValueError as error:
            raise InvalidPolicy(f"{where}: {error}") from None
        return {"at_most": count, "days": days}
    if set(rule) == {"gap_hours"}:
        hours = rule["gap_hours"]
        if isinstance(hours, bool) or not isinstance(hours, int | float):
            raise InvalidPolicy(f"{where}.gap_hours: must be a number")
        try:
            MinimumGap(float(hours))
        except ValueError as error:
            raise InvalidPolicy(f"{where}.gap_hours: {error}") from None
        return {"gap_hours": hours}
    raise InvalidPolicy(f"{where}: give {{'at_most': n, 'days': k}} or {{'gap_hours': h}}")


def update_policy(tenant_id: str, changes: Mapping[str, Any]) -> Policy:
    """Apply the admin's changes (fields left out keep their value) after checking each field; store the policy."""
    store = BroadcastStore(tenant_id)
    current = store.get_policy().to_json()
    merged = {**current, **{k: v for k, v in changes.items() if v is not None}}
    if merged["quota"] not in {q.value for q in WeComQuota}:
        raise InvalidPolicy(f"quota: must be one of {', '.join(q.value for q in WeComQuota)}")
    if "quiet_rules" in changes and changes["quiet_rules"] is not None:
        if len(changes["quiet_rules"]) > QUIET_RULES_MAX:
            raise InvalidPolicy(f"quiet_rules: at most {QUIET_RULES_MAX} rules")
        merged["quiet_rules"] = [_quiet_rule(i, r) for i, r in enumerate(changes["quiet_rules"])]
    try:
        zoneinfo.ZoneInfo(merged["timezone"])
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidPolicy(f"timezone: unknown time zone {merged['timezone']!r}") from None
    if merged["auto_remind_after_hours"] >= merged["follow_hours"]:
        raise InvalidPolicy("auto_remind_after_hours: must be less than follow_hours (0 turns reminders off)")
    policy = Policy.from_json(merged)
    store.put_policy(policy)
    return policy


# ---- the sales key's view ----


def sales_view(broadcast: Broadcast, mine: EmployeeResult) -> dict[str, Any]:
    """A broadcast as a sales key sees it: what was sent and its own part, not the company's audience or figures."""
    view = {k: v for k, v in broadcast.to_json().items() if k not in ("audience", "counts", "skipped")}
    return {**view, "mine": mine.to_json()}


# ---- cursors ----


def cursor_of_tenant(tenant_id: str, cursor: str | None) -> str | None:
    """The cursor if it is a well-formed store cursor whose partition keys all belong to this tenant, else ValueError
    (a cursor is opaque to callers; a forged one must not reach another tenant's partition)."""
    if not cursor:
        return None
    key = decode_cursor(cursor)
    if not isinstance(key, dict) or not key:
        raise ValueError("invalid cursor")
    prefix = f"{tenant_id}#"
    for name in ("pk", "gsi1pk"):
        if name in key:
            value = key[name].get("S") if isinstance(key[name], dict) else None
            if not isinstance(value, str) or not value.startswith(prefix):
                raise ValueError("invalid cursor")
    if "pk" not in key:
        raise ValueError("invalid cursor")
    return cursor
