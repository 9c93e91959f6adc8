"""The ingest workers' bodies: fold queued beacon batches into views, counters and timelines (bulk), and alert
sharers, store leads and send digests (real time).

Bulk (`fold_batches`, BEACONS): the batches of one invocation are grouped by view; each view takes ONE UpdateItem
for all of its batches (`TrackingStore.apply_batches`), on condition that none of them was applied before. When one
was (an SQS redelivery, a replay from the page), its batches are applied one by one, each under its own condition,
so those applied before change nothing. What the newly applied batches add to the daily counters of their material,
sharer and campaign is summed over the invocation and written once per counter item; the invocation's raw batches
go into one compressed item per tenant that expires after the plan's retention.

Counters are written after the views: if the worker dies between the two, the redelivered batches find their views
applied and the lost additions are not made again (counters may under-count by that invocation, never over-count).

Real time (`Alerts`, BEACON_ALERTS): an identified customer's open (`services.view_alerts`: de-bounced, within the
budgets), with the material's auto-tags applied to the customer; a lead, stored once and alerted; a digest come due.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from chalicelib.domain import beacons, view_alerts
from chalicelib.domain.beacons import Event, ViewDelta
from chalicelib.domain.ttl_cache import TtlCache
from chalicelib.observability import logger
from chalicelib.services import sales_links
from chalicelib.services import view_alerts as alerts
from chalicelib.services.tenant_wecom import tenant_wecom
from chalicelib.store.customers import CustomerStore
from chalicelib.store.materials import MaterialStore
from chalicelib.store.tenants import get_tenant_cached
from chalicelib.store.tracking import CAMPAIGN, MATERIAL, SHARER, AppliedView, TrackingStore, ViewSource
from chalicelib.wecom.errors import WeComError

MARK_TAG_API = "externalcontact/mark_tag"
LOOKUP_TTL_SECONDS = 300.0
RETENTION_DAYS = {"trial": 7, "basic": 30, "pro": 90, "enterprise": 180}
DEFAULT_RETENTION_DAYS = 30
RAW_ITEM_MAX_BYTES = 300_000
ANONYMOUS_PREFIX = "s:"
RAW_FIELDS = frozenset({"view_id", "session", "customer", "consented", "received_ms", "events"})
_lookups: TtlCache[tuple[str, str, str], Any] = TtlCache(max_entries=4096)


def retention_days(tenant_id: str) -> int:
    """How long the tenant's plan keeps raw beacon batches."""
    tenant = get_tenant_cached(tenant_id)
    return RETENTION_DAYS.get(tenant.plan if tenant else "", DEFAULT_RETENTION_DAYS)


def _material(tenant_id: str, material_id: str) -> tuple[str, tuple[str, ...]]:
    """(title, auto-tag ids) of a material, cached."""

    def load() -> tuple[tuple[str, tuple[str, ...]], float]:
        material = MaterialStore(tenant_id).get(material_id)
        tags = TrackingStore(tenant_id).material_tracking(material_id)["auto_tag_ids"]
        return (material.title if material else material_id, tuple(tags)), LOOKUP_TTL_SECONDS

    return _lookups.get((tenant_id, "material", material_id), load)


def forget_lookups() -> None:
    _lookups.forget()


def _events(message: dict[str, Any]) -> list[Event]:
    return [Event(*e) for e in message["events"]]


def _source(message: dict[str, Any]) -> ViewSource:
    return ViewSource(
        material_id=message["material_id"],
        sharer=message["sharer"],
        campaign=message["campaign"],
        session=message["session"],
        customer=message["customer"] if message["consented"] else "",
        viewer_key=message["viewer_key"],
        consented=message["consented"],
    )


@dataclass
class Folded:
    """What one bulk invocation did."""

    views: int = 0
    batches: int = 0
    replayed: int = 0


class Counts:
    """Daily counter additions summed over an invocation, written once per counter item."""

    def __init__(self) -> None:
        self.figures: dict[tuple[str, str, str, str], Counter[str]] = defaultdict(Counter)

    def add(self, tenant_id: str, message: dict[str, Any], day: str, figures: dict[str, int]) -> None:
        for scope, scope_id in ((MATERIAL, message["material_id"]), (SHARER, message["sharer"])):
            self.figures[(tenant_id, scope, scope_id, day)].update(figures)
        if message["campaign"]:
            self.figures[(tenant_id, CAMPAIGN, message["campaign"], day)].update(figures)

    def write(self) -> None:
        for (tenant_id, scope, scope_id, day), figures in self.figures.items():
            TrackingStore(tenant_id).add_counts(scope, scope_id, day, figures)
        self.figures.clear()


def fold_batches(messages: Iterable[dict[str, Any]]) -> Folded:
    """Fold an invocation's beacon batches into their views, then write the summed counters and the raw batches."""
    by_view: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for message in messages:
        if message.get("kind") != "beacons":
            raise ValueError(f"not a beacon batch: {message.get('kind')!r}")
        by_view[(message["tenant_id"], message["view_id"])].append(message)
    folded, counts = Folded(), Counts()
    raw: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (tenant_id, view_id), batches in by_view.items():
        applied = _apply_view(TrackingStore(tenant_id), view_id, batches)
        folded.views += 1
        folded.batches += len(applied)
        folded.replayed += len(batches) - len(applied)
        raw[tenant_id] += applied
        if applied:
            _count_view(TrackingStore(tenant_id), applied, counts)
    counts.write()
    now = time.time()
    for tenant_id, kept in raw.items():
        for payload in _raw_payloads(kept):
            TrackingStore(tenant_id).put_raw(view_alerts.day_of(now), payload, now, retention_days(tenant_id))
    return folded


def _apply_view(store: TrackingStore, view_id: str, batches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Apply a view's batches in one write when none was applied before, else one by one; the batches applied."""
    unique: dict[str, dict[str, Any]] = {}
    for message in batches:
        unique.setdefault(beacons.batch_key(_events(message)), message)
    ordered = sorted(unique.values(), key=lambda m: m["received_ms"])
    source = _source(next((m for m in reversed(ordered) if m["customer"] and m["consented"]), ordered[-1]))
    events = [e for m in ordered for e in _events(m)]
    result = store.apply_batches(view_id, source, list(unique), beacons.fold(events))
    if result is not None:
        return _with_result(ordered, result)
    applied = []
    for key, message in unique.items():
        one = store.apply_batches(view_id, _source(message), [key], beacons.fold(_events(message)))
        if one is not None:
            applied += _with_result([message], one)
    return applied


def _with_result(messages: list[dict[str, Any]], result: AppliedView) -> list[dict[str, Any]]:
    return [{**m, "_fresh_open": result.fresh_open} for m in messages]


def _count_view(store: TrackingStore, applied: list[dict[str, Any]], counts: Counts) -> None:
    """The counter additions of a view's newly applied batches."""
    first = applied[0]
    delta: ViewDelta = beacons.fold([e for m in applied for e in _events(m)])
    day = view_alerts.day_of(first["received_ms"] / 1000)
    tenant_id = store.tenant_id
    counts.figures[(tenant_id, MATERIAL, first["material_id"], day)]["dwell_ms"] += delta.dwell_ms
    counts.add(
        tenant_id,
        first,
        day,
        {"forwards": delta.actions.get(beacons.FORWARD, 0), "actions": sum(delta.actions.values())},
    )
    if not any(m["_fresh_open"] for m in applied):
        return
    identified = next((m for m in applied if m["customer"] and m["consented"]), None)
    viewer_key = (identified or first)["viewer_key"]
    new_viewer = viewer_key.startswith(ANONYMOUS_PREFIX) or store.first_view_by(first["material_id"], viewer_key)
    figures = {"opens": 1, "identified_opens": 1 if identified else 0}
    if new_viewer:
        figures |= {"viewers": 1, "identified_viewers": 1 if identified else 0}
    counts.add(tenant_id, first, day, figures)


def _raw_payloads(messages: list[dict[str, Any]]) -> Iterable[bytes]:
    """The raw batches as JSON arrays of at most RAW_ITEM_MAX_BYTES each (a DynamoDB item holds 400 KB); what the
    view holds anyway (tenant, material, sharer, campaign) is left out."""
    chunk: list[bytes] = []
    size = 0
    for message in messages:
        kept = {k: v for k, v in message.items() if k in RAW_FIELDS}
        encoded = json.dumps(kept, separators=(",", ":"), ensure_ascii=False).encode()
        if chunk and size + len(encoded) > RAW_ITEM_MAX_BYTES:
            yield b"[" + b",".join(chunk) + b"]"
            chunk, size = [], 0
        chunk.append(encoded)
        size += len(encoded) + 1
    if chunk:
        yield b"[" + b",".join(chunk) + b"]"


class Alerts:
    """The real-time path, one message at a time: opens by identified customers, leads, digests."""

    def __init__(self) -> None:
        self.outcomes: Counter[str] = Counter()
        self.counts = Counts()

    def handle(self, message: dict[str, Any]) -> None:
        kind = message.get("kind")
        if kind == "open":
            self.opened(message)
        elif kind == "lead":
            self.lead(message)
        elif kind == "digest":
            alerts.send_digest(message["tenant_id"], message["userid"])
        else:
            raise ValueError(f"unknown alert message kind {kind!r}")

    def _count(self, tenant_id: str, sharer: str, now: float, figures: dict[str, int]) -> None:
        self.counts.figures[(tenant_id, SHARER, sharer, view_alerts.day_of(now))].update(figures)

    def flush(self) -> None:
        """Write the invocation's summed counters (alert outcomes, leads)."""
        self.counts.write()

    def opened(self, message: dict[str, Any]) -> None:
        tenant_id, customer, sharer = message["tenant_id"], message["customer"], message["sharer"]
        now = time.time()
        title, tag_ids = _material(tenant_id, message["material_id"])
        profile = CustomerStore(tenant_id).get_profile(customer)
        opened = alerts.Opened(
            tenant_id=tenant_id,
            sharer=sharer,
            customer=customer,
            customer_name=profile.name if profile else "",
            material_id=message["material_id"],
            title=title,
            view_id=message["view_id"],
        )
        outcome = alerts.alert_view(opened, now)
        self.outcomes[outcome] += 1
        if outcome == alerts.REPLAYED:
            return
        self._count(tenant_id, sharer, now, {outcome: 1})
        if tag_ids and outcome != alerts.DEBOUNCED:
            _auto_tag(tenant_id, sharer, customer, tag_ids)

    def lead(self, message: dict[str, Any]) -> None:
        tenant_id = message["tenant_id"]
        fields = {
            name: message[name] for name in ("material_id", "sharer", "campaign", "session", "name", "phone", "note")
        }
        store = TrackingStore(tenant_id)
        if not store.put_lead(message["lead_id"], fields, message["customer"], message["received_ms"]):
            self.outcomes["replayed"] += 1
            return
        now = time.time()
        self.counts.add(tenant_id, message, view_alerts.day_of(message["received_ms"] / 1000), {"leads": 1})
        title, _ = _material(tenant_id, message["material_id"])
        who = message["customer"]
        if who:
            profile = CustomerStore(tenant_id).get_profile(who)
            who = profile.name if profile and profile.name else who
        line = view_alerts.lead_alert_line(who or message["name"], title, message["phone"])
        customer = message["customer"]
        url = sales_links.customer_url(tenant_id, customer, message["sharer"])
        outcome = alerts.deliver(tenant_id, message["sharer"], line, url, now)
        self.outcomes[outcome] += 1
        self._count(tenant_id, message["sharer"], now, {outcome: 1})


def _auto_tag(tenant_id: str, sharer: str, customer: str, tag_ids: tuple[str, ...]) -> None:
    """Tag the customer, on the sharer's relation, with the material's auto-tags it lacks."""
    customers = CustomerStore(tenant_id)
    relation = next((r for r in customers.get_follows(customer) if r.userid == sharer), None)
    if relation is None or not relation.active:
        return
    missing = sorted(set(tag_ids) - relation.tag_ids)
    if not missing:
        return
    payload = {"userid": sharer, "external_userid": customer, "add_tag": missing}
    try:
        tenant_wecom(tenant_id).post(MARK_TAG_API, payload, retry_safe=True)
    except WeComError as error:
        logger.warning("auto-tag of a viewer refused by WeCom", extra={"errcode": error.errcode})
        return
    customers.apply_follow(
        replace(relation, tag_ids=relation.tag_ids | frozenset(missing), event_time=int(time.time()))
    )
