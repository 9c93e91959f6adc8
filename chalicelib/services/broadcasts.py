"""What the mass-message admin API calls: create, start, preview, cancel, remind.

Each function takes the tenant id (from the caller's credential, never from the URL alone) and plain values, and
raises `InvalidBroadcast` (a 400), `BroadcastNotFound` (a 404) or `BroadcastConflict` (a 409: not in a state that
allows it). Reads (get, list, batches, results) go straight to `chalicelib.store.broadcasts.BroadcastStore`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from chalicelib import queues, resources
from chalicelib.config import Settings, get_settings
from chalicelib.domain.audience import InvalidAudience, audience_from_json, audience_to_json
from chalicelib.domain.broadcast_content import InvalidContent, validate_content
from chalicelib.domain.broadcasts import Broadcast, BroadcastConflict, BroadcastNotFound, InvalidBroadcast, Status
from chalicelib.domain.group_audience import InvalidGroupAudience, group_audience
from chalicelib.domain.plans import Standing, not_sent_reason
from chalicelib.store.broadcast_timers import START
from chalicelib.store.broadcasts import BroadcastStore
from chalicelib.store.dynamo import Conflict
from chalicelib.store.tenants import standing_of

START_AHEAD_SECONDS = 60
"""A broadcast whose send_at is less than this ahead is planned at once; later ones wait for the schedule."""


def _audience_json(chat_type: str, audience: Mapping[str, Any], sender: str = "") -> dict[str, Any]:
    if chat_type == "group":
        try:
            return group_audience(audience, sender).as_json()
        except InvalidGroupAudience as error:
            raise InvalidBroadcast(str(error)) from None
    try:
        return audience_to_json(audience_from_json(audience))
    except InvalidAudience as error:
        raise InvalidBroadcast(str(error)) from None


def create_broadcast(
    tenant_id: str,
    *,
    content: Mapping[str, Any],
    audience: Mapping[str, Any],
    chat_type: str = "single",
    sender: str = "",
    send_at: int | None = None,
    allow_select: bool = False,
    created_by: str = "",
    start: bool = False,
    settings: Settings | None = None,
) -> Broadcast:
    """Validate and store a broadcast (draft); with `start`, start it at once (or schedule it for `send_at`).

    `content` is `{"text": {"content": ...}, "attachments": [...]}` as in add_msg_template; an attachment may also be
    `{"material_id": ...}` from the tenant's material library: it is resolved now (so a bad reference is a 400) and
    the references are kept, so the dispatcher resolves them again and sends media ids that are still fresh."""
    refs = [dict(a) for a in content.get("attachments") or [] if isinstance(a, Mapping)]
    has_materials = any("material_id" in a for a in refs)
    if has_materials:
        content = {**content, "attachments": _resolve_materials(tenant_id, refs)}
    try:
        checked = validate_content({**content, "chat_type": chat_type, "sender": sender})
    except InvalidContent as error:
        raise InvalidBroadcast(str(error)) from None
    stored_audience = _audience_json(chat_type, audience, sender)
    now = time.time()
    if send_at is not None and send_at < now - START_AHEAD_SECONDS:
        raise InvalidBroadcast("send_at: in the past")
    store = BroadcastStore(tenant_id, settings)
    stored_content: dict[str, Any] = {"text": checked.text, "attachments": [dict(a) for a in checked.attachments]}
    if has_materials:
        stored_content["attachment_refs"] = refs
    broadcast = store.create(
        chat_type=chat_type,
        content=stored_content,
        audience=stored_audience,
        send_at=send_at,
        allow_select=allow_select,
        sender=sender,
        created_by=created_by,
        now=now,
    )
    if has_materials:
        from chalicelib.services.materials import record_use

        record_use(tenant_id, broadcast.broadcast_id, refs)
    return start_broadcast(tenant_id, broadcast.broadcast_id, settings=settings) if start else broadcast


def _resolve_materials(tenant_id: str, refs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The attachments with material references resolved; a reference the library cannot serve is a 400 naming it."""
    from chalicelib.services.materials import MaterialUnavailable, resolve_attachments
    from chalicelib.store.materials import MaterialNotFound

    try:
        return resolve_attachments(tenant_id, refs)
    except InvalidContent as error:
        raise InvalidBroadcast(str(error)) from None
    except MaterialNotFound as error:
        where = [
            f"attachments[{i}].material_id" for i, r in enumerate(refs) if r.get("material_id") in error.material_ids
        ]
        raise InvalidBroadcast(f"{', '.join(where)}: no such material") from None
    except MaterialUnavailable as error:
        where = [
            f"attachments[{i}].material_id" for i, r in enumerate(refs) if r.get("material_id") == error.material_id
        ]
        raise InvalidBroadcast(f"{', '.join(where)}: {error.reason}") from None


def start_broadcast(tenant_id: str, broadcast_id: str, *, settings: Settings | None = None) -> Broadcast:
    """Draft → planning (published to the plan queue) when send_at is due, else draft → scheduled (the schedule
    handler starts it within a minute of send_at). A scheduled broadcast whose time has come goes to planning."""
    settings = settings or get_settings()
    store = BroadcastStore(tenant_id, settings)
    broadcast = store.get(broadcast_id)
    if broadcast is None:
        raise BroadcastNotFound(broadcast_id)
    now = time.time()
    try:
        if broadcast.send_at > now + START_AHEAD_SECONDS and broadcast.status == Status.DRAFT:
            scheduled = store.set_status(broadcast_id, Status.SCHEDULED, expect=[Status.DRAFT])
            store.set_timer(broadcast_id, START, broadcast.send_at)
            return scheduled
        planning = store.set_status(broadcast_id, Status.PLANNING, expect=[Status.DRAFT, Status.SCHEDULED])
    except Conflict:
        raise BroadcastConflict(f"broadcast is {broadcast.status}") from None
    from chalicelib.services.broadcast_plan import plan_message

    queues.publish(resources.PLAN, plan_message(tenant_id, broadcast_id, 0), tenant_id=tenant_id, settings=settings)
    return planning


def start_scheduled(tenant_id: str, broadcast_id: str, now: int, *, settings: Settings | None = None) -> Broadcast:
    """The schedule's start of a broadcast at its send time, while the tenant is in good standing. One whose tenant
    was suspended or expired since it was scheduled is cancelled with that reason: admins see why, and it is never
    sent late once the tenant renews."""
    now_standing = standing_of(tenant_id, now)
    if now_standing is None:
        raise BroadcastNotFound(broadcast_id)
    if now_standing is not Standing.ACTIVE:
        try:
            return BroadcastStore(tenant_id, settings).set_status(
                broadcast_id, Status.CANCELLED, expect=[Status.SCHEDULED], reason=not_sent_reason(now_standing)
            )
        except Conflict:
            raise BroadcastConflict("broadcast is no longer scheduled") from None
    return start_broadcast(tenant_id, broadcast_id, settings=settings)


def preview_broadcast(
    tenant_id: str,
    audience: Mapping[str, Any],
    *,
    send_at: int | None = None,
    time_budget_seconds: float = 20.0,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """The planner run dry over the audience: recipients, senders, batches, skipped by reason; no writes."""
    from chalicelib.services.broadcast_plan import preview

    try:
        parsed = audience_from_json(audience)
    except InvalidAudience as error:
        raise InvalidBroadcast(str(error)) from None
    return preview(
        tenant_id, parsed, send_at=send_at, time_budget_seconds=time_budget_seconds, settings=settings
    ).to_json()


def cancel_broadcast(tenant_id: str, broadcast_id: str, *, settings: Settings | None = None) -> Broadcast:
    """Stop a broadcast that is not done: batches not yet sent are cancelled by the dispatcher; WeCom tasks already
    created are cancelled with cancel_groupmsg_send (senders who have not confirmed never will)."""
    settings = settings or get_settings()
    store = BroadcastStore(tenant_id, settings)
    broadcast = store.get(broadcast_id)
    if broadcast is None:
        raise BroadcastNotFound(broadcast_id)
    try:
        cancelled = store.set_status(
            broadcast_id,
            Status.CANCELLED,
            expect=[Status.DRAFT, Status.SCHEDULED, Status.PLANNING, Status.DISPATCHING, Status.FOLLOWING],
            reason="cancelled by admin",
        )
    except Conflict:
        raise BroadcastConflict(f"broadcast is {broadcast.status}") from None
    msgids = [m for e in store.all_employee_results(broadcast_id) for m in e.msgids]
    if msgids:
        from chalicelib.services.tenant_wecom import tenant_wecom
        from chalicelib.wecom import errors

        client = tenant_wecom(tenant_id, settings)
        for msgid in msgids:
            try:
                client.post("externalcontact/cancel_groupmsg_send", {"msgid": msgid}, retry_safe=True)
            except errors.WeComError as error:
                if error.errcode != 41093:
                    raise
    return cancelled


def remind_broadcast(tenant_id: str, broadcast_id: str, *, settings: Settings | None = None) -> dict[str, int]:
    """Remind senders who have not confirmed (at most 3 per task per 24 hours): `{"reminded": n, "skipped": m}`."""
    store = BroadcastStore(tenant_id, settings)
    broadcast = store.get(broadcast_id)
    if broadcast is None:
        raise BroadcastNotFound(broadcast_id)
    if broadcast.status not in (Status.DISPATCHING, Status.FOLLOWING):
        raise BroadcastConflict(f"broadcast is {broadcast.status}")
    from chalicelib.services.broadcast_results import Follower

    return Follower(tenant_id, settings).remind(broadcast_id)
