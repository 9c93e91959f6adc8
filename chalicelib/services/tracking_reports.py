"""Tracking read back from stored aggregates, each in one or a few Queries (never a Scan): a customer's timeline,
a material's figures, a salesperson's figures by day/week/month, customers who viewed their shares (hot: twice or
more) and the leads no customer could be named for."""

from __future__ import annotations

from typing import Any

from chalicelib.domain import view_alerts
from chalicelib.store.customers import CustomerStore
from chalicelib.store.materials import MaterialStore
from chalicelib.store.tracking import MATERIAL, SHARER, TrackingStore, UnknownSubject

DAY_SECONDS = 86_400
PERIODS = {"day": 1, "week": 7, "month": 30}
HOT_MIN_OPENS = 2
ANONYMOUS_LEADS_READ = 100


def _known_customer(tenant_id: str, customer: str, entries: list[Any]) -> None:
    if not entries and CustomerStore(tenant_id).get_profile(customer) is None:
        raise UnknownSubject("no such customer")


def known_employee(tenant_id: str, userid: str) -> str:
    """`userid`, when the tenant's directory lists it; UnknownSubject otherwise."""
    if not CustomerStore(tenant_id).has_employee(userid):
        raise UnknownSubject("no such employee")
    return userid


def _days_back(now: float, days: int) -> tuple[str, str]:
    return view_alerts.day_of(now - (days - 1) * DAY_SECONDS), view_alerts.day_of(now)


def _entry(item: dict[str, Any]) -> dict[str, Any]:
    if item["sk"] == "lead":
        return {
            "kind": "lead",
            "at": item["at"],
            "material_id": item.get("material_id"),
            "sharer": item.get("sharer"),
            "campaign": item.get("campaign", ""),
            "name": item.get("name"),
            "phone": item.get("phone"),
            "note": item.get("note", ""),
        }
    return {
        "kind": "view",
        "at": item.get("opened_at") or item.get("first_at"),
        "last_at": item.get("last_at"),
        "material_id": item.get("material_id"),
        "sharer": item.get("sharer"),
        "campaign": item.get("campaign", ""),
        "dwell_ms": item.get("dwell_ms", 0),
        "depth": max(item.get("depth_marks") or [0]),
        "actions": {name[2:]: n for name, n in item.items() if name.startswith("a_")},
        "consented": bool(item.get("consented")),
        "left": "left_at" in item,
    }


def timeline(tenant_id: str, customer: str, only_sharer: str | None) -> list[dict[str, Any]]:
    """The customer's views and leads, newest first; a sales key sees the ones of its own shares only."""
    items = TrackingStore(tenant_id).timeline(customer)
    _known_customer(tenant_id, customer, items)
    entries = [_entry(item) for item in items]
    return [e for e in entries if only_sharer is None or e["sharer"] == only_sharer]


def forget_customer(tenant_id: str, customer: str) -> int:
    """Delete the customer's timeline (views and leads); how many entries went."""
    deleted = TrackingStore(tenant_id).forget_customer(customer)
    _known_customer(tenant_id, customer, [None] * deleted)
    return deleted


def material_stats(tenant_id: str, material_id: str, days: int, now: float) -> dict[str, Any]:
    """Opens, unique and identified viewers, average dwell, forwards and leads over the last `days` days."""
    if MaterialStore(tenant_id).get(material_id) is None:
        raise UnknownSubject("no such material")
    first, last = _days_back(now, days)
    counts = TrackingStore(tenant_id).counts(MATERIAL, material_id, first, last)
    return {
        "material_id": material_id,
        "from": first,
        "to": last,
        "opens": counts["opens"],
        "identified_opens": counts["identified_opens"],
        "unique_viewers": counts["viewers"],
        "identified_viewers": counts["identified_viewers"],
        "average_dwell_ms": counts["dwell_ms"] // counts["opens"] if counts["opens"] else 0,
        "forwards": counts["forwards"],
        "leads": counts["leads"],
    }


def sales_stats(tenant_id: str, userid: str, now: float) -> dict[str, Any]:
    """A salesperson's shares, opens, identified viewers, leads and alerts for the day, week and month."""
    store = TrackingStore(tenant_id)
    answer: dict[str, Any] = {"userid": userid}
    for period, days in PERIODS.items():
        first, last = _days_back(now, days)
        counts = store.counts(SHARER, userid, first, last)
        answer[period] = {
            "from": first,
            "to": last,
            "shares": counts["shares"],
            "opens": counts["opens"],
            "identified_opens": counts["identified_opens"],
            "identified_viewers": counts["identified_viewers"],
            "leads": counts["leads"],
            "alerts": {name: counts[name] for name in ("sent", "debounced", "digested")},
        }
    return answer


def recent_viewers(tenant_id: str, userid: str, now: float) -> list[dict[str, Any]]:
    """The salesperson's customers who opened their shares in the last 7 days, most opens first."""
    first, last = _days_back(now, 7)
    opens = TrackingStore(tenant_id).customer_opens(userid, first, last)
    viewers = [{"customer_id": c, "opens": n} for c, n in opens.items()]
    return sorted(viewers, key=lambda h: (-h["opens"], h["customer_id"]))


def hot_customers(tenant_id: str, userid: str, now: float) -> list[dict[str, Any]]:
    """The salesperson's customers who opened their shares twice or more in the last 7 days, most opens first."""
    return [h for h in recent_viewers(tenant_id, userid, now) if h["opens"] >= HOT_MIN_OPENS]


def anonymous_leads(tenant_id: str, userid: str, limit: int = ANONYMOUS_LEADS_READ) -> list[dict[str, Any]]:
    """Leads left on the salesperson's shares by readers we could not identify, newest first, among the tenant's
    last `limit`."""
    return [e for e in map(_entry, TrackingStore(tenant_id).anonymous_leads(limit)) if e["sharer"] == userid]
