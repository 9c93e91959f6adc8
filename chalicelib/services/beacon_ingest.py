"""The ingest worker's body: fold queued beacon batches into views, counters, timelines, tags and alerts.

Per batch, one conditional UpdateItem of its view (`TrackingStore.apply_batch`): a batch applied before (SQS
redelivery, a replay from the page) changes nothing, and nothing below runs for it. What the newly applied batches
add to the daily counters of their material, sharer and campaign is summed over the whole SQS invocation and written
once per counter item; the invocation's raw batches go into one compressed item per tenant that expires after the
plan's retention. A fresh open by an identified (consenting) customer counts towards hot customers, tags the
customer with the material's auto-tags, and alerts the sharer (`services.view_alerts`).

Counters are written after the views: if the worker dies between the two, the redelivered batches find their views
applied and the lost counter additions are not made again (counters may under-count by that invocation, never
double-count).
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from dataclasses import replace
from typing import Any

from chalicelib.domain import beacons, view_alerts
from chalicelib.domain.beacons import Event
from chalicelib.domain.ttl_cache import TtlCache
from chalicelib.observability import logger
from chalicelib.services import view_alerts as alerts
from chalicelib.services.tenant_wecom import tenant_wecom
from chalicelib.store.customers import CustomerStore
from chalicelib.store.materials import MaterialStore
from chalicelib.store.tenants import get_tenant_cached
from chalicelib.store.tracking import CAMPAIGN, MATERIAL, SHARER, TrackingStore, ViewSource
from chalicelib.wecom.errors import WeComError

MARK_TAG_API = "externalcontact/mark_tag"
LOOKUP_TTL_SECONDS = 300.0
RETENTION_DAYS = {"trial": 7, "basic": 30, "pro": 90, "enterprise": 180}
DEFAULT_RETENTION_DAYS = 30
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


class Ingest:
    """One SQS invocation's worth of beacon batches, leads and digests; `flush` writes the summed counters."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, str, str], Counter[str]] = defaultdict(Counter)
        self.raw: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.outcomes: Counter[str] = Counter()

    def handle(self, message: dict[str, Any]) -> None:
        kind = message.get("kind")
        if kind == "beacons":
            self.beacons(message)
        elif kind == "lead":
            self.lead(message)
        elif kind == "digest":
            alerts.send_digest(message["tenant_id"], message["userid"])
        else:
            raise ValueError(f"unknown beacon message kind {kind!r}")

    def _count(self, tenant_id: str, message: dict[str, Any], day: str, figures: dict[str, int]) -> None:
        for scope, scope_id in ((MATERIAL, message["material_id"]), (SHARER, message["sharer"])):
            self.counts[(tenant_id, scope, scope_id, day)].update(figures)
        if message["campaign"]:
            self.counts[(tenant_id, CAMPAIGN, message["campaign"], day)].update(figures)

    def beacons(self, message: dict[str, Any]) -> None:
        tenant_id = message["tenant_id"]
        events = [Event(*e) for e in message["events"]]
        delta = beacons.fold(events)
        source = ViewSource(
            material_id=message["material_id"],
            sharer=message["sharer"],
            campaign=message["campaign"],
            session=message["session"],
            customer=message["customer"] if message["consented"] else "",
            viewer_key=message["viewer_key"],
            consented=message["consented"],
        )
        store = TrackingStore(tenant_id)
        applied = store.apply_batch(message["view_id"], source, beacons.batch_key(events), delta)
        if applied is None:
            self.outcomes["replayed"] += 1
            return
        now = time.time()
        day = view_alerts.day_of(message["received_ms"] / 1000)
        self.raw[tenant_id].append(message)
        self.counts[(tenant_id, MATERIAL, source.material_id, day)]["dwell_ms"] += delta.dwell_ms
        forwards = delta.actions.get(beacons.FORWARD, 0)
        self._count(tenant_id, message, day, {"forwards": forwards, "actions": sum(delta.actions.values())})
        if not applied.fresh_open:
            return
        figures = {"opens": 1, "identified_opens": 1 if source.customer else 0}
        if store.first_view_by(source.material_id, source.viewer_key):
            figures |= {"viewers": 1, "identified_viewers": 1 if source.customer else 0}
        self._count(tenant_id, message, day, figures)
        if source.customer:
            self._identified_open(store, source, day, now)

    def _identified_open(self, store: TrackingStore, source: ViewSource, day: str, now: float) -> None:
        tenant_id = store.tenant_id
        store.add_hot(source.sharer, day, source.customer, now)
        title, tag_ids = _material(tenant_id, source.material_id)
        if tag_ids:
            self._auto_tag(tenant_id, source, tag_ids)
        profile = CustomerStore(tenant_id).get_profile(source.customer)
        outcome = alerts.alert_view(
            tenant_id, source.sharer, source.customer, profile.name if profile else "", title, source.material_id, now
        )
        self.outcomes[outcome] += 1
        self.counts[(tenant_id, SHARER, source.sharer, day)][outcome] += 1

    def _auto_tag(self, tenant_id: str, source: ViewSource, tag_ids: tuple[str, ...]) -> None:
        """Tag the customer, on the sharer's relation, with the material's auto-tags it lacks."""
        customers = CustomerStore(tenant_id)
        relation = next((r for r in customers.get_follows(source.customer) if r.userid == source.sharer), None)
        if relation is None or not relation.active:
            return
        missing = sorted(set(tag_ids) - relation.tag_ids)
        if not missing:
            return
        payload = {"userid": source.sharer, "external_userid": source.customer, "add_tag": missing}
        try:
            tenant_wecom(tenant_id).post(MARK_TAG_API, payload, retry_safe=True)
        except WeComError as error:
            logger.warning("auto-tag of a viewer refused by WeCom", extra={"errcode": error.errcode})
            return
        customers.apply_follow(
            replace(relation, tag_ids=relation.tag_ids | frozenset(missing), event_time=int(time.time()))
        )

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
        day = view_alerts.day_of(message["received_ms"] / 1000)
        self._count(tenant_id, message, day, {"leads": 1})
        title, _ = _material(tenant_id, message["material_id"])
        who = message["customer"]
        if who:
            profile = CustomerStore(tenant_id).get_profile(who)
            who = profile.name if profile and profile.name else who
        line = view_alerts.lead_alert_line(who or message["name"], title, message["phone"])
        url = alerts.customer_url(message["customer"]) if message["customer"] else alerts.customer_url("leads")
        outcome = alerts.deliver(tenant_id, message["sharer"], line, url, now)
        self.outcomes[outcome] += 1
        self.counts[(tenant_id, SHARER, message["sharer"], day)][outcome] += 1

    def flush(self) -> None:
        """Write the summed counters (one ADD per counter item) and the raw batches (one item per tenant)."""
        now = time.time()
        for (tenant_id, scope, scope_id, day), figures in self.counts.items():
            TrackingStore(tenant_id).add_counts(scope, scope_id, day, figures)
        for tenant_id, messages in self.raw.items():
            payload = json.dumps(messages, separators=(",", ":"), ensure_ascii=False).encode()
            TrackingStore(tenant_id).put_raw(view_alerts.day_of(now), payload, now, retention_days(tenant_id))
        self.counts.clear()
        self.raw.clear()
