"""Group join ways (群活码) as the admin API changes them: WeCom's configuration and our store kept in step, the same
way as friend channels (`services.channels`): the state is reserved first (one channel or join way per state), then
WeCom creates the way (add_join_way; get_join_way gives its QR code), then it is stored; a failed WeCom call gives
the state back. Update and delete change WeCom first. Figures come from the members who joined with the way's state
(`store.groups` daily figures of scope `state`)."""

from __future__ import annotations

import secrets
import time
from dataclasses import replace
from typing import Any

from chalicelib.domain.group_chats import Scope, sum_days
from chalicelib.domain.join_ways import JoinWay, JoinWayChanges
from chalicelib.services.channels import new_state
from chalicelib.services.tenant_context import TenantContext
from chalicelib.store.groups import GroupStore
from chalicelib.store.join_ways import JoinWayStore

ADD_API = "externalcontact/groupchat/add_join_way"
GET_API = "externalcontact/groupchat/get_join_way"
UPDATE_API = "externalcontact/groupchat/update_join_way"
DELETE_API = "externalcontact/groupchat/del_join_way"
FIRST_DAY, LAST_DAY = "2000-01-01", "9999-12-31"


class JoinWayNotFound(LookupError):
    """No such join way in this tenant."""


def _store(ctx: TenantContext) -> JoinWayStore:
    return JoinWayStore(ctx.tenant_id, ctx.settings)


def get_join_way(ctx: TenantContext, config_id: str) -> JoinWay:
    way = _store(ctx).get(config_id)
    if way is None:
        raise JoinWayNotFound(config_id)
    return way


def list_join_ways(ctx: TenantContext) -> list[JoinWay]:
    return _store(ctx).list()


def create_join_way(ctx: TenantContext, draft: JoinWay) -> JoinWay:
    """Reserve the state, create the way in WeCom, read its QR code, store it; StateTaken when the state is used."""
    state = draft.state or new_state()
    pending = f"pending-{secrets.token_hex(8)}"
    ctx.channels.reserve_state(state, pending)
    try:
        body = replace(draft, state=state).wecom_body()
        config_id = ctx.wecom.post(ADD_API, body, retry_safe=False)["config_id"]
    except Exception:
        ctx.channels.release_state(state)
        raise
    qr_code = ctx.wecom.post(GET_API, {"config_id": config_id}, retry_safe=True)["join_way"].get("qr_code", "")
    now = int(time.time())
    way = JoinWay(
        config_id=config_id,
        name=draft.name,
        state=state,
        chat_ids=draft.chat_ids,
        auto_create_room=draft.auto_create_room,
        room_base_name=draft.room_base_name,
        room_base_id=draft.room_base_id,
        qr_code=qr_code,
        created_at=now,
        updated_at=now,
    )
    _store(ctx).put(way)
    ctx.channels.assign_state(state, pending, config_id)
    return way


def update_join_way(ctx: TenantContext, config_id: str, changes: JoinWayChanges) -> JoinWay:
    """Change the way in WeCom (update_join_way takes the whole configuration), then in the store. WeCom's own
    changes (a new room it opened when all were full) are read back first, so they are not overwritten."""
    way = get_join_way(ctx, config_id)
    current = ctx.wecom.post(GET_API, {"config_id": config_id}, retry_safe=True)["join_way"]
    way = replace(
        way,
        chat_ids=tuple(current.get("chat_id_list") or way.chat_ids),
        room_base_id=int(current.get("room_base_id") or way.room_base_id),
    )
    updated = changes.applied_to(way, int(time.time()))
    ctx.wecom.post(UPDATE_API, {"config_id": config_id, **updated.wecom_body()}, retry_safe=True)
    return _store(ctx).put(updated)


def delete_join_way(ctx: TenantContext, config_id: str) -> None:
    """Delete the way in WeCom, then here (members it brought keep its state)."""
    way = get_join_way(ctx, config_id)
    ctx.wecom.post(DELETE_API, {"config_id": config_id}, retry_safe=True)
    _store(ctx).delete(config_id)
    ctx.channels.release_state(way.state)


def join_way_figures(
    ctx: TenantContext, config_id: str, first: str = FIRST_DAY, last: str = LAST_DAY
) -> dict[str, Any]:
    """Customers who joined groups through the way and who of them quit, per day and in total."""
    way = get_join_way(ctx, config_id)
    rows = GroupStore(ctx.tenant_id, ctx.settings).daily(Scope.STATE, way.state, first, last)
    return {
        "join_way_id": config_id,
        "state": way.state,
        "days": [{"day": d, "joins": j, "quits": q, "net": j - q} for d, j, q in rows],
        "total": sum_days(rows),
    }
