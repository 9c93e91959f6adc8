"""Follow relations from events: fetch and store a customer, refresh an edited one, mark a lost one and alert staff.

Every write goes through the customer store's guarded `apply_follow`, with the WeCom event time as the relation's
time, so an event delivered late never overwrites what a newer one wrote.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from chalicelib.domain.lifecycle import lost_alert_text
from chalicelib.observability import logger
from chalicelib.services.tenant_context import TenantContext
from chalicelib.store.customer_profiles import CustomerProfile
from chalicelib.store.relations import LOST, FollowRelation
from chalicelib.wecom.events import ExternalContactEvent
from chalicelib.wecom.paging import cursor_pages

GET_CUSTOMER_API = "externalcontact/get"
SEND_APP_MESSAGE_API = "message/send"
CORP_TAG_TYPE = 1
LOST_BY_EMPLOYEE, LOST_BY_CUSTOMER, LOST_BY_TRANSFER = "employee", "customer", "transfer"
DELETE_BY_TRANSFER = "DELETE_BY_TRANSFER"
ALERT_DUPLICATE_CHECK_SECONDS = 1800


def relation_from_follow(external_userid: str, follow: dict[str, Any], event_time: int) -> FollowRelation:
    """One `follow_user` entry of externalcontact/get as a relation (corp tags only: personal tags have no id)."""
    tags = frozenset(
        str(t["tag_id"]) for t in follow.get("tags", ()) if t.get("tag_id") and t.get("type", 1) == CORP_TAG_TYPE
    )
    return FollowRelation(
        external_userid=external_userid,
        userid=str(follow["userid"]),
        createtime=int(follow.get("createtime", 0)),
        event_time=event_time,
        remark=follow.get("remark", "") or "",
        description=follow.get("description", "") or "",
        remark_mobiles=tuple(m for m in follow.get("remark_mobiles", ()) if m),
        tag_ids=tags,
        add_way=int(follow.get("add_way", 0) or 0),
        state=follow.get("state", "") or "",
    )


def profile_from_contact(contact: dict[str, Any], event_time: int) -> CustomerProfile:
    return CustomerProfile(
        external_userid=contact["external_userid"],
        event_time=event_time,
        name=contact.get("name", "") or "",
        type=int(contact.get("type", 0) or 0),
        gender=int(contact.get("gender", 0) or 0),
        unionid=contact.get("unionid", "") or "",
        corp_name=contact.get("corp_name", "") or "",
        avatar=contact.get("avatar", "") or "",
    )


def fetch_customer(ctx: TenantContext, external_userid: str, userid: str, event_time: int) -> FollowRelation | None:
    """Read the customer from WeCom (following next_cursor until `userid`'s relation shows), store the profile and
    return that relation as of `event_time` (None when WeCom no longer lists it)."""
    pages = cursor_pages(lambda params: ctx.wecom.get(GET_CUSTOMER_API, params), {"external_userid": external_userid})
    for number, answer in enumerate(pages):
        if number == 0:
            ctx.customers.upsert_profile(profile_from_contact(answer["external_contact"], event_time))
        for follow in answer.get("follow_user", ()):
            if follow.get("userid") == userid:
                return relation_from_follow(external_userid, follow, event_time)
    return None


def refresh_relation(ctx: TenantContext, event: ExternalContactEvent) -> bool:
    """edit_external_contact: store the relation as WeCom shows it now; False when older than what is stored."""
    relation = fetch_customer(ctx, event.external_user_id, event.user_id, event.create_time)
    if relation is None:
        logger.info("edited relation no longer listed by WeCom", extra={"userid": event.user_id})
        return False
    return ctx.customers.apply_follow(relation)


def mark_lost(ctx: TenantContext, event: ExternalContactEvent) -> bool:
    """del_external_contact / del_follow_user: the relation is lost at the event's time, by whom; the channel that
    brought the customer counts a lost friend (not when WeCom removed it for an on-job transfer)."""
    if event.change_type == "del_follow_user":
        lost_by = LOST_BY_CUSTOMER
    elif event.source == DELETE_BY_TRANSFER:
        lost_by = LOST_BY_TRANSFER
    else:
        lost_by = LOST_BY_EMPLOYEE
    stored = next((r for r in ctx.customers.get_follows(event.external_user_id) if r.userid == event.user_id), None)
    base = stored or FollowRelation(event.external_user_id, event.user_id, createtime=0, event_time=event.create_time)
    lost = replace(base, status=LOST, lost_at=event.create_time, lost_by=lost_by, event_time=event.create_time)
    applied = ctx.customers.apply_follow(lost)
    if applied and lost_by != LOST_BY_TRANSFER and base.state:
        channel = ctx.channels.by_state(base.state)
        if channel is not None:
            ctx.channels.friend_lost(channel.config_id, event.user_id, event.external_user_id, event.create_time)
    return applied


def alert_lost_customer(ctx: TenantContext, event: ExternalContactEvent) -> dict[str, Any]:
    """Tell the employee (and the tenant's alert manager) in WeCom that a customer deleted them.

    WeCom's duplicate check (same content to the same people within 30 minutes) makes a repeated call harmless.
    """
    policy = ctx.transfers.get_policy()
    recipients = [event.user_id] + ([policy.alert_manager] if policy.alert_manager not in ("", event.user_id) else [])
    profile = ctx.customers.get_profile(event.external_user_id)
    text = lost_alert_text(profile.name if profile else "", event.external_user_id, "")
    return ctx.wecom.post(
        SEND_APP_MESSAGE_API,
        {
            "touser": "|".join(recipients),
            "msgtype": "text",
            "agentid": ctx.wecom.agent_id,
            "text": {"content": text},
            "enable_duplicate_check": 1,
            "duplicate_check_interval": ALERT_DUPLICATE_CHECK_SECONDS,
        },
        retry_safe=True,
    )
