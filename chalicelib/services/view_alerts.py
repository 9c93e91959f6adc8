"""Alerts to the sharer: a WeCom app message (textcard) when an identified customer opens a material or leaves a
lead, within the sharer's and the app's budgets, or one digest later instead of an alert WeCom would drop.

A refused alert joins the member's pending digest; the first line of a digest queues a delayed message (kind
"digest", BEACON_ALERTS) for when the window that refused it ends; that message sends the digest as one textcard if
the budget allows then, or comes back later. So no alert is lost to WeCom's silent caps: each is sent,
de-bounced, or digested.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from chalicelib import queues, resources
from chalicelib.domain import view_alerts
from chalicelib.domain.ttl_cache import TtlCache
from chalicelib.domain.view_alerts import Budget
from chalicelib.observability import logger
from chalicelib.services import sales_links
from chalicelib.services.tenant_wecom import tenant_wecom
from chalicelib.store import usage
from chalicelib.store.alert_state import AlertState
from chalicelib.store.tracking import SHARER, TrackingStore

SEND_APP_MESSAGE_API = "message/send"
SEATS_TTL_SECONDS = 300.0
SENT, DEBOUNCED, DIGESTED, REPLAYED = "sent", "debounced", "digested", "replayed"
_seats: TtlCache[str, int] = TtlCache(max_entries=2048)


def app_budget(tenant_id: str) -> Budget:
    """The budgets alerts must fit in; the app's daily one from the tenant's seats (its employees)."""

    def load() -> tuple[int, float]:
        counts = usage.usage_of([tenant_id], usage.month_of(time.time()))[tenant_id].counts
        return int(counts.get(usage.EMPLOYEES, 0)), SEATS_TTL_SECONDS

    return Budget(per_app_day=view_alerts.app_daily_budget(_seats.get(tenant_id, load)))


def _textcard(tenant_id: str, userid: str, title: str, description: str, url: str) -> None:
    wecom = tenant_wecom(tenant_id)
    wecom.post(
        SEND_APP_MESSAGE_API,
        {
            "touser": userid,
            "msgtype": "textcard",
            "agentid": wecom.agent_id,
            "textcard": {"title": title, "description": description, "url": url, "btntxt": "查看"},
            "enable_duplicate_check": 1,
            "duplicate_check_interval": view_alerts.DEBOUNCE_SECONDS,
        },
        retry_safe=False,
    )


@dataclass(frozen=True)
class Opened:
    """An identified customer opened a material someone shared."""

    tenant_id: str
    sharer: str
    customer: str
    customer_name: str
    material_id: str
    title: str
    view_id: str


def alert_view(opened: Opened, now: float) -> str:
    """Count the view today, de-bounce per customer and material, then alert or digest. The outcome: SENT,
    DIGESTED, DEBOUNCED, or REPLAYED for a view handled before (nothing counted again)."""
    store = TrackingStore(opened.tenant_id)
    claim = store.open_and_claim(
        opened.sharer, opened.customer, opened.material_id, opened.view_id, now, view_alerts.DEBOUNCE_SECONDS
    )
    if not claim.claimed:
        return REPLAYED if claim.seen_before else DEBOUNCED
    line = view_alerts.view_alert_line(opened.customer_name or opened.customer, opened.title, claim.views_today)
    url = sales_links.customer_url(opened.tenant_id, opened.customer, opened.sharer)
    outcome = deliver(opened.tenant_id, opened.sharer, line, url, now)
    store.alert_done(opened.sharer, opened.customer, opened.material_id, opened.view_id, now)
    return outcome


def deliver(tenant_id: str, userid: str, line: str, url: str, now: float) -> str:
    """Send one alert within the budgets, or put it in the member's digest. The outcome."""
    state = AlertState(tenant_id)
    full = state.take_budget(userid, app_budget(tenant_id), now)
    if full is None:
        _textcard(tenant_id, userid, "客户动态", line, url)
        return SENT
    if state.add_to_digest(userid, line, now) == 1:
        delay = min(view_alerts.MAX_DELAY_SECONDS, view_alerts.seconds_until_next(full, now))
        queues.publish(
            resources.BEACON_ALERTS,
            {"kind": "digest", "tenant_id": tenant_id, "userid": userid},
            tenant_id=tenant_id,
            delay_seconds=delay,
        )
    logger.info("alert over the member's or app's budget: kept for a digest", extra={"window": full})
    return DIGESTED


def send_digest(tenant_id: str, userid: str, now: float | None = None) -> int:
    """Send the member's pending digest as one message if the budget allows (else come back later); lines sent."""
    now = time.time() if now is None else now
    state = AlertState(tenant_id)
    full = state.take_budget(userid, app_budget(tenant_id), now)
    if full is not None:
        delay = min(view_alerts.MAX_DELAY_SECONDS, view_alerts.seconds_until_next(full, now))
        message: dict[str, Any] = {"kind": "digest", "tenant_id": tenant_id, "userid": userid}
        queues.publish(resources.BEACON_ALERTS, message, tenant_id=tenant_id, delay_seconds=delay)
        return 0
    lines = state.take_digest(userid)
    if not lines:
        return 0
    try:
        _textcard(
            tenant_id,
            userid,
            view_alerts.digest_title(len(lines)),
            view_alerts.digest_description(lines),
            sales_links.home_url(tenant_id, userid),
        )
    except Exception:
        state.put_digest_back(userid, lines, now)
        raise
    TrackingStore(tenant_id).add_counts(SHARER, userid, view_alerts.day_of(now), {"digest_lines": len(lines)})
    return len(lines)
