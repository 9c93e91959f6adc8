"""Acquisition links (获客助手) as the admin API and WeCom's events change them, and their figures.

Create asks WeCom for the link (`customer_acquisition/create_link`), stores it, then registers each campaign (the
default one and those named) through `services.channels.register_channel`: the campaign's State is reserved like a
「联系我」 code's and its URL is the link's with `customer_channel=<State>`, so a friend arriving through it gets the
campaign's welcome and auto-tags and is counted by the new-friend path every channel uses. Update and delete change
WeCom first, then the store. Figures: clicks and new customers from WeCom's statistic API (per link), friends added,
lost and still there after 7 and 30 days from the campaign's friends (per campaign).

`customer_acquisition` events are noted on their link (status, chats started, last event) and the quota and
link-failure ones are sent to the tenant's alert recipients as an app message.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from chalicelib.domain.acquisition import (
    ALERTED_EVENTS,
    LINK_EVENTS,
    RETENTION_DAYS,
    UNAVAILABLE,
    AcquisitionLink,
    alert_text,
    campaign_channel_id,
    campaign_url,
    retention,
)
from chalicelib.domain.channels import Channel, welcome_as_dict
from chalicelib.domain.wecom_limits import ACQUISITION_CUSTOMER_MAX_LIMIT, ACQUISITION_STATISTIC_MAX_DAYS
from chalicelib.observability import logger
from chalicelib.services.channels import register_channel
from chalicelib.services.relations import SEND_APP_MESSAGE_API
from chalicelib.services.tenant_context import TenantContext
from chalicelib.wecom.events import CustomerAcquisitionEvent

CREATE_API = "externalcontact/customer_acquisition/create_link"
UPDATE_API = "externalcontact/customer_acquisition/update_link"
DELETE_API = "externalcontact/customer_acquisition/delete_link"
STATISTIC_API = "externalcontact/customer_acquisition/statistic"
QUOTA_API = "externalcontact/customer_acquisition_quota"
CUSTOMERS_API = "externalcontact/customer_acquisition/customer"
DEFAULT_CAMPAIGN = "default"
DAY = 86_400
ALERT_DUPLICATE_CHECK_SECONDS = 1800


def _range(link: AcquisitionLink) -> dict[str, Any]:
    return {"user_list": list(link.userids), "department_list": list(link.department_ids)}


def create_link(
    ctx: TenantContext, draft: AcquisitionLink, default: Channel, campaigns: list[Channel]
) -> AcquisitionLink:
    """Create the link in WeCom, store it, and register its default campaign (the welcome and auto-tags of `default`)
    and `campaigns` (channel drafts named after their campaign)."""
    body = {"link_name": draft.name, "range": _range(draft), "skip_verify": draft.skip_verify}
    answer = ctx.wecom.post(CREATE_API, body, retry_safe=False)["link"]
    now = int(time.time())
    link = ctx.acquisition_links.put(
        replace(draft, link_id=answer["link_id"], url=answer["url"], created_at=now, updated_at=now)
    )
    for campaign in [replace(default, name=DEFAULT_CAMPAIGN), *campaigns]:
        add_campaign(ctx, link, campaign)
    return link


def add_campaign(ctx: TenantContext, link: AcquisitionLink, draft: Channel) -> Channel:
    """Register one campaign of `link`: a State of its own, the link's URL carrying it."""
    campaign = replace(draft, state="", userids=link.userids, skip_verify=link.skip_verify, link_id=link.link_id)
    return register_channel(
        ctx, campaign, lambda state: (campaign_channel_id(link.link_id, state), campaign_url(link.url, state))
    )


def campaigns(ctx: TenantContext, link_id: str) -> list[Channel]:
    return [c for c in ctx.channels.list() if c.link_id == link_id]


def update_link(ctx: TenantContext, link: AcquisitionLink, changed: AcquisitionLink) -> AcquisitionLink:
    """Tell WeCom the new name, employees or verification, then store the link and its campaigns' copy of them."""
    body = {
        "link_id": link.link_id,
        "link_name": changed.name,
        "range": _range(changed),
        "skip_verify": changed.skip_verify,
    }
    ctx.wecom.post(UPDATE_API, body, retry_safe=True)
    stored = ctx.acquisition_links.put(replace(changed, updated_at=int(time.time())))
    for campaign in campaigns(ctx, link.link_id):
        ctx.channels.put(replace(campaign, userids=changed.userids, skip_verify=changed.skip_verify))
    return stored


def delete_link(ctx: TenantContext, link: AcquisitionLink) -> None:
    """Delete the link in WeCom, then its campaigns (their friends keep their State) and the link."""
    ctx.wecom.post(DELETE_API, {"link_id": link.link_id}, retry_safe=True)
    for campaign in campaigns(ctx, link.link_id):
        ctx.channels.delete(campaign)
    ctx.acquisition_links.delete(link.link_id)


def campaign_view(ctx: TenantContext, campaign: Channel, now: int) -> dict[str, Any]:
    """A campaign with its friends added, lost, still there, and retained after 7 and 30 days."""
    times = ctx.channels.friend_times(campaign.config_id)
    return {
        "campaign": campaign.name,
        "state": campaign.state,
        "url": campaign.qr_code,
        "auto_tag_ids": list(campaign.auto_tag_ids),
        "welcome": welcome_as_dict(campaign.welcome),
        "figures": {
            "friends_added": campaign.friends_added,
            "friends_lost": campaign.friends_lost,
            "still_friends": max(0, campaign.friends_added - campaign.friends_lost),
            "retention": [retention(times, days, now).as_dict() for days in RETENTION_DAYS],
        },
    }


def link_view(ctx: TenantContext, link: AcquisitionLink, days: int, now: int | None = None) -> dict[str, Any]:
    """The link, its clicks and new customers over the last `days` days (WeCom's statistic, ≤ 30 days) and its
    campaigns with their figures."""
    now = int(time.time()) if now is None else now
    days = max(1, min(days, ACQUISITION_STATISTIC_MAX_DAYS))
    window = {"link_id": link.link_id, "start_time": now - days * DAY, "end_time": now}
    statistic = ctx.wecom.post(STATISTIC_API, window, retry_safe=True)
    return {
        **link.as_dict(),
        "statistic": {
            "days": days,
            "clicks": int(statistic.get("click_link_customer_cnt", 0)),
            "new_customers": int(statistic.get("new_customer_cnt", 0)),
        },
        "campaigns": [campaign_view(ctx, c, now) for c in campaigns(ctx, link.link_id)],
    }


def link_customers(ctx: TenantContext, link_id: str, limit: int, cursor: str) -> dict[str, Any]:
    """One page of the customers WeCom lists for the link: who added whom, through which campaign (`state`), and
    whether the customer has written yet (`chat_status` 0 no, 1 yes, 2 unknown)."""
    body: dict[str, Any] = {"link_id": link_id, "limit": min(limit, ACQUISITION_CUSTOMER_MAX_LIMIT)}
    if cursor:
        body["cursor"] = cursor
    answer = ctx.wecom.post(CUSTOMERS_API, body, retry_safe=True)
    return {
        "customers": [
            {
                "external_userid": str(c.get("external_userid", "")),
                "userid": str(c.get("userid", "")),
                "state": str(c.get("state", "")),
                "chat_status": int(c.get("chat_status", 0)),
            }
            for c in answer.get("customer_list", ())
        ],
        "next_cursor": answer.get("next_cursor") or None,
    }


def quota(ctx: TenantContext) -> dict[str, Any]:
    """The tenant's acquisition quota as WeCom reports it: total, balance and the balance by expiry date."""
    answer = ctx.wecom.get(QUOTA_API, {})
    return {
        "total": int(answer.get("total", 0)),
        "balance": int(answer.get("balance", 0)),
        "quota_list": [
            {"expire_date": int(q.get("expire_date", 0)), "balance": int(q.get("balance", 0))}
            for q in answer.get("quota_list", ())
        ],
    }


def apply_acquisition_event(ctx: TenantContext, event: CustomerAcquisitionEvent) -> None:
    """Note a link event on its link, and alert the tenant's recipients of quota and link failures."""
    link_id = event.link_id or _link_of_customer(ctx, event)
    link = ctx.acquisition_links.get(link_id) if link_id else None
    if event.change_type in LINK_EVENTS and link is not None:
        status = UNAVAILABLE if event.change_type in ("link_unavailable", "delete_link") else None
        started = event.change_type == "customer_start_chat"
        ctx.acquisition_links.record_event(link.link_id, event.change_type, event.create_time, status, started)
    if event.change_type in ALERTED_EVENTS:
        alert_recipients(ctx, event.change_type, link.name if link else "")


def _link_of_customer(ctx: TenantContext, event: CustomerAcquisitionEvent) -> str:
    """The link a customer came through, from the State of their stored relation ("" when unknown)."""
    if not event.external_user_id:
        return ""
    relation = next((r for r in ctx.customers.get_follows(event.external_user_id) if r.userid == event.user_id), None)
    channel = ctx.channels.by_state(relation.state) if relation is not None and relation.state else None
    return channel.link_id if channel is not None else ""


def alert_recipients(ctx: TenantContext, change_type: str, link_name: str) -> None:
    """Send the event's alert to the tenant's alert recipients (WeCom's duplicate check makes a repeat harmless)."""
    text = alert_text(change_type, link_name)
    recipients = ctx.acquisition_links.alert_recipients()
    if text is None or not recipients:
        logger.info("acquisition event not alerted", extra={"change_type": change_type, "recipients": len(recipients)})
        return
    ctx.wecom.post(
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
