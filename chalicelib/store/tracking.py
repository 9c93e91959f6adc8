"""What share links and beacons leave behind, in the `data` table: views, timelines, counters, shares, leads.

| item | pk | sk | notes |
|---|---|---|---|
| view (share link + session) | `<t>#view#<view id>` | `view` | gsi1 `<t>#timeline#<customer>` if identified |
| daily counters of a material / sharer / campaign | `<t>#stats#<m|s|c>#<id>` | `<YYYY-MM-DD>` | ADD only |
| first view of a material by a viewer | `<t>#seen#<material>` | viewer key | put if absent: unique viewers |
| a customer's views of a sharer's material, a day | `<t>#hot#<sharer>` | `<day>#<cust>#<material>` | alert gate |
| share | `<t>#shares` | `<ms>#<mac>` | gsi1 `<t>#shares#<sharer>` |
| lead | `<t>#lead#<lead id>` | `lead` | gsi1 customer timeline or `<t>#leads#anonymous` |
| raw beacon batches of one ingest | `<t>#raw#<YYYY-MM-DD>` | `<ms>#<id>` | TTL: the plan's retention |
| a material's tracking settings | `<t>#mtrack` | material id | auto-tags, tracked link |
| the tenant's page origins | `<t>#tracking` | `origins` | CORS |

A view takes a batch with ONE UpdateItem: every figure is an ADD (dwell, events, actions, depth marks into a number
set) and the batch's key joins the view's set of applied batches, on condition that it is not there yet. A
redelivered or replayed batch fails the condition and changes nothing. Raw batches carry `expires_at` for DynamoDB's
TTL and are filtered by it when read, since TTL deletes lazily (and moto not at all).
"""

from __future__ import annotations

import os
import secrets
import time
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import boto3
from botocore.exceptions import ClientError

from chalicelib import resources
from chalicelib.config import get_settings
from chalicelib.domain import view_alerts
from chalicelib.domain.beacons import ViewDelta, depth_mark
from chalicelib.store.dynamo import CONDITION_FAILED
from chalicelib.store.keys import TenantKeys

MATERIAL, SHARER, CAMPAIGN = "m", "s", "c"
COUNTERS = (
    "opens",
    "identified_opens",
    "viewers",
    "identified_viewers",
    "dwell_ms",
    "forwards",
    "actions",
    "leads",
    "shares",
    "sent",
    "debounced",
    "digested",
    "digest_lines",
)
HOT_DAYS = 7
HOT_TTL_SECONDS = 8 * 86_400
TIMELINE_LIMIT = 100


@lru_cache(maxsize=4)
def _client(region: str, endpoint: str | None) -> Any:
    return boto3.client("dynamodb", region_name=region)


def dynamodb() -> Any:
    settings = get_settings()
    return _client(settings.region, os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ.get("AWS_ENDPOINT_URL"))


def _table() -> str:
    return get_settings().table(resources.DATA)


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: float) -> dict[str, str]:
    return {"N": str(int(value))}


def _plain(item: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain values (S, N, BOOL, SS, NS, L of S)."""
    out: dict[str, Any] = {}
    for name, typed in item.items():
        kind, value = next(iter(typed.items()))
        if kind == "N":
            out[name] = int(float(value))
        elif kind == "NS":
            out[name] = sorted(int(float(v)) for v in value)
        elif kind == "L":
            out[name] = [next(iter(v.values())) for v in value]
        else:
            out[name] = value
    return out


def is_condition_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == CONDITION_FAILED


class UnknownSubject(LookupError):
    """The customer, material or employee asked about is not the tenant's (answered 404, as for any other id)."""


@dataclass(frozen=True)
class ViewSource:
    """Where a view comes from and who is watching."""

    material_id: str
    sharer: str
    campaign: str
    session: str
    customer: str
    viewer_key: str
    consented: bool


@dataclass(frozen=True)
class ViewClaim:
    """A customer's views of a material today (this one counted), whether this view holds the alert's claim, and
    whether this view was counted before (its message came back)."""

    views_today: int
    claimed: bool
    seen_before: bool


@dataclass(frozen=True)
class AppliedView:
    """A view after a batch was applied to it."""

    view_id: str
    fresh_open: bool
    item: dict[str, Any]


class TrackingStore:
    """One tenant's tracking items; it cannot read or write another tenant's."""

    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self._keys = TenantKeys(tenant_id)

    # Views ---------------------------------------------------------------------------------------------------

    def apply_batches(
        self, view_id: str, source: ViewSource, batch_keys: list[str], delta: ViewDelta
    ) -> AppliedView | None:
        """Fold batches of one view into it (one UpdateItem) on condition that none of them was applied before;
        None when one was (the caller then applies them one by one)."""
        names = {"#b": "batches"}
        unseen = " AND ".join(f"NOT contains(#b, :bk{n})" for n in range(len(batch_keys)))
        values: dict[str, Any] = {
            **{f":bk{n}": _s(key) for n, key in enumerate(batch_keys)},
            ":b": {"SS": list(batch_keys)},
            ":d": _n(delta.dwell_ms),
            ":e": _n(delta.events),
            ":m": _s(source.material_id),
            ":s": _s(source.sharer),
            ":c": _s(source.campaign),
            ":sess": _s(source.session),
            ":fa": _n(delta.first_at),
            ":la": _n(delta.last_at),
            ":o": _n(1 if delta.opened else 0),
        }
        adds = ["#b :b", "dwell_ms :d", "events_n :e", "opens :o"]
        sets = [
            "material_id = if_not_exists(material_id, :m)",
            "sharer = if_not_exists(sharer, :s)",
            "campaign = if_not_exists(campaign, :c)",
            "#sess = if_not_exists(#sess, :sess)",
            "first_at = if_not_exists(first_at, :fa)",
            "last_at = :la",
        ]
        names["#sess"] = "session"
        if delta.depth:
            adds.append("depth_marks :dm")
            values[":dm"] = {"NS": [str(depth_mark(delta.depth))]}
        for action, count in sorted(delta.actions.items()):
            adds.append(f"a_{action} :a_{action}")
            values[f":a_{action}"] = _n(count)
        if delta.opened:
            sets.append("opened_at = if_not_exists(opened_at, :fa)")
        if delta.left:
            sets.append("left_at = :la")
        if source.customer:
            values |= {
                ":cu": _s(source.customer),
                ":tl": _s(self._keys.key("timeline", source.customer)),
                ":tls": _s(f"{delta.first_at:013d}#view#{view_id}"),
                ":ok": {"BOOL": source.consented},
            }
            sets += [
                "customer = :cu",
                "gsi1pk = :tl",
                "gsi1sk = if_not_exists(gsi1sk, :tls)",
                "consented = :ok",
            ]
        if source.viewer_key:
            values[":vk"] = _s(source.viewer_key)
            sets.append("viewer_key = :vk")
        try:
            answer = dynamodb().update_item(
                TableName=_table(),
                Key={"pk": _s(self._keys.key("view", view_id)), "sk": _s("view")},
                UpdateExpression=f"ADD {', '.join(adds)} SET {', '.join(sets)}",
                ConditionExpression=f"attribute_not_exists(#b) OR ({unseen})",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if is_condition_failure(error):
                return None
            raise
        item = _plain(answer["Attributes"])
        return AppliedView(view_id, delta.opened and item.get("opens") == 1, item)

    def view(self, view_id: str) -> dict[str, Any] | None:
        answer = dynamodb().get_item(
            TableName=_table(), Key={"pk": _s(self._keys.key("view", view_id)), "sk": _s("view")}, ConsistentRead=True
        )
        return _plain(answer["Item"]) if "Item" in answer else None

    def first_view_by(self, material_id: str, viewer_key: str) -> bool:
        """Record that this viewer saw this material; True the first time."""
        try:
            dynamodb().put_item(
                TableName=_table(),
                Item={"pk": _s(self._keys.key("seen", material_id)), "sk": _s(viewer_key)},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    # Counters ------------------------------------------------------------------------------------------------

    def add_counts(self, scope: str, scope_id: str, day: str, counts: Mapping[str, int]) -> None:
        """ADD figures to one daily counter item."""
        counts = {name: n for name, n in counts.items() if n}
        if not counts or not scope_id:
            return
        unknown = set(counts) - set(COUNTERS)
        if unknown:
            raise KeyError(f"unknown counters: {sorted(unknown)}")
        dynamodb().update_item(
            TableName=_table(),
            Key={"pk": _s(self._keys.key("stats", scope, scope_id)), "sk": _s(day)},
            UpdateExpression="ADD " + ", ".join(f"{name} :{name}" for name in sorted(counts)),
            ExpressionAttributeValues={f":{name}": _n(n) for name, n in counts.items()},
        )

    def counts(self, scope: str, scope_id: str, first_day: str, last_day: str) -> dict[str, int]:
        """The sum of the daily counters from `first_day` to `last_day` (one Query)."""
        totals = dict.fromkeys(COUNTERS, 0)
        for item in self._query(
            "pk = :pk AND sk BETWEEN :a AND :b",
            {":pk": _s(self._keys.key("stats", scope, scope_id)), ":a": _s(first_day), ":b": _s(last_day)},
        ):
            for name in COUNTERS:
                totals[name] += int(item.get(name, 0))
        return totals

    def open_and_claim(
        self, sharer: str, customer: str, material_id: str, view_id: str, now: float, debounce_seconds: int
    ) -> ViewClaim:
        """Count a customer's view of a material shared by `sharer` today (a set of view ids: counting one twice
        changes nothing) and claim its alert unless one was claimed within `debounce_seconds`; the claim names the
        view, so the same view's message coming back before `alert_done` (its worker died before the send) claims
        it again. One write when claimed, two when not."""
        key = {"pk": _s(self._keys.key("hot", sharer)), "sk": _s(f"{view_alerts.day_of(now)}#{customer}#{material_id}")}
        values = {":v": {"SS": [view_id]}, ":exp": _n(now + HOT_TTL_SECONDS)}
        try:
            answer = dynamodb().update_item(
                TableName=_table(),
                Key=key,
                UpdateExpression="ADD #views :v SET expires_at = :exp, last_alert_at = :now, alert_view = :view",
                ConditionExpression="attribute_not_exists(last_alert_at) OR last_alert_at <= :cutoff",
                ExpressionAttributeNames={"#views": "views"},
                ExpressionAttributeValues=values
                | {":now": _n(now), ":cutoff": _n(now - debounce_seconds), ":view": _s(view_id)},
                ReturnValues="ALL_NEW",
            )
            return ViewClaim(len(answer["Attributes"]["views"]["SS"]), claimed=True, seen_before=False)
        except ClientError as error:
            if not is_condition_failure(error):
                raise
        answer = dynamodb().update_item(
            TableName=_table(),
            Key=key,
            UpdateExpression="ADD #views :v SET expires_at = :exp",
            ExpressionAttributeNames={"#views": "views"},
            ExpressionAttributeValues=values,
            ReturnValues="ALL_OLD",
        )
        old = _plain(answer.get("Attributes", {}))
        views = set(old.get("views", ())) | {view_id}
        claimed = old.get("alert_view") == view_id and old.get("alert_done") != view_id
        return ViewClaim(len(views), claimed=claimed, seen_before=view_id in old.get("views", ()))

    def alert_done(self, sharer: str, customer: str, material_id: str, view_id: str, now: float) -> None:
        """Record that the alert claimed for this view went out (or into a digest): its message coming back then
        claims nothing."""
        dynamodb().update_item(
            TableName=_table(),
            Key={
                "pk": _s(self._keys.key("hot", sharer)),
                "sk": _s(f"{view_alerts.day_of(now)}#{customer}#{material_id}"),
            },
            UpdateExpression="SET alert_done = :view",
            ExpressionAttributeValues={":view": _s(view_id)},
        )

    def customer_opens(self, sharer: str, first_day: str, last_day: str) -> dict[str, int]:
        """Views per customer of this sharer's shares between two days (one Query)."""
        opens: dict[str, int] = {}
        for item in self._query(
            "pk = :pk AND sk BETWEEN :a AND :b",
            {":pk": _s(self._keys.key("hot", sharer)), ":a": _s(first_day), ":b": _s(f"{last_day}#\uffff")},
        ):
            customer = item["sk"].split("#")[1]
            opens[customer] = opens.get(customer, 0) + len(item.get("views", ()))
        return opens

    # Timeline ------------------------------------------------------------------------------------------------

    def timeline(self, customer: str, limit: int = TIMELINE_LIMIT) -> list[dict[str, Any]]:
        """The customer's views and leads, newest first (one Query of gsi1)."""
        return self._query(
            "gsi1pk = :pk",
            {":pk": _s(self._keys.key("timeline", customer))},
            index="gsi1",
            forward=False,
            limit=limit,
        )

    def forget_customer(self, customer: str) -> int:
        """Delete the customer's timeline (views and leads); the anonymous counters stay. How many went."""
        gone = 0
        while True:
            items = self.timeline(customer)
            if not items:
                return gone
            for item in items:
                dynamodb().delete_item(TableName=_table(), Key={"pk": _s(item["pk"]), "sk": _s(item["sk"])})
                gone += 1

    # Shares and leads ----------------------------------------------------------------------------------------

    def put_share(self, share_id: str, fields: Mapping[str, str], created_ms: int) -> None:
        sk = f"{created_ms:013d}#{share_id}"
        item = {"pk": _s(self._keys.key("shares")), "sk": _s(sk), "created_ms": _n(created_ms)}
        item |= {name: _s(value) for name, value in fields.items()}
        item |= {"gsi1pk": _s(self._keys.key("shares", fields["sharer"])), "gsi1sk": _s(sk)}
        dynamodb().put_item(TableName=_table(), Item=item)

    def shares(self, sharer: str | None, limit: int) -> list[dict[str, Any]]:
        """Newest first: one sharer's (gsi1) or everyone's."""
        if sharer is None:
            return self._query("pk = :pk", {":pk": _s(self._keys.key("shares"))}, forward=False, limit=limit)
        return self._query(
            "gsi1pk = :pk", {":pk": _s(self._keys.key("shares", sharer))}, index="gsi1", forward=False, limit=limit
        )

    def put_lead(self, lead_id: str, fields: Mapping[str, str], customer: str, at_ms: int) -> bool:
        """Store a lead once (its id is derived from its content); False when it was stored before."""
        timeline = self._keys.key("timeline", customer) if customer else self._keys.key("leads", "anonymous")
        item = {"pk": _s(self._keys.key("lead", lead_id)), "sk": _s("lead"), "at": _n(at_ms)}
        item |= {name: _s(value) for name, value in fields.items() if value}
        item |= {"gsi1pk": _s(timeline), "gsi1sk": _s(f"{at_ms:013d}#lead#{lead_id}")}
        try:
            dynamodb().put_item(TableName=_table(), Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def anonymous_leads(self, limit: int) -> list[dict[str, Any]]:
        return self._query(
            "gsi1pk = :pk", {":pk": _s(self._keys.key("leads", "anonymous"))}, index="gsi1", forward=False, limit=limit
        )

    # Raw batches ---------------------------------------------------------------------------------------------

    def put_raw(self, day: str, payload: bytes, now: float, retention_days: int) -> None:
        """Keep the raw batches of one ingest (compressed) until the retention ends."""
        dynamodb().put_item(
            TableName=_table(),
            Item={
                "pk": _s(self._keys.key("raw", day)),
                "sk": _s(f"{int(now * 1000):013d}#{secrets.token_hex(4)}"),
                "body": {"B": zlib.compress(payload)},
                "expires_at": _n(now + retention_days * 86_400),
            },
        )

    def raw_batches(self, day: str, now: float) -> list[bytes]:
        """The day's raw batches still within their retention (expired ones are skipped even before TTL deletes)."""
        items = dynamodb().query(
            TableName=_table(),
            KeyConditionExpression="pk = :pk",
            FilterExpression="expires_at > :now",
            ExpressionAttributeValues={":pk": _s(self._keys.key("raw", day)), ":now": _n(now)},
        )["Items"]
        return [zlib.decompress(item["body"]["B"]) for item in items]

    # Settings ------------------------------------------------------------------------------------------------

    def material_tracking(self, material_id: str) -> dict[str, Any]:
        """A material's tracking settings: the tags its identified viewers get, whether its link is tracked."""
        answer = dynamodb().get_item(
            TableName=_table(), Key={"pk": _s(self._keys.key("mtrack")), "sk": _s(material_id)}
        )
        item = _plain(answer.get("Item", {}))
        return {"auto_tag_ids": sorted(item.get("auto_tag_ids", [])), "tracked": bool(item.get("url"))}

    def put_material_tracking(self, material_id: str, auto_tag_ids: Iterable[str], tracked_url: str | None) -> None:
        """Set a material's auto-tags, and with `tracked_url` (its link) make that link tracked per sender."""
        tags = sorted(set(auto_tag_ids))
        item = {"pk": _s(self._keys.key("mtrack")), "sk": _s(material_id)}
        if tags:
            item["auto_tag_ids"] = {"SS": tags}
        if tracked_url:
            item["url"] = _s(tracked_url)
        dynamodb().put_item(TableName=_table(), Item=item)

    def tracked_urls(self) -> dict[str, str]:
        """The links of tracked materials: url → material id (one Query)."""
        items = self._query("pk = :pk", {":pk": _s(self._keys.key("mtrack"))})
        return {item["url"]: item["sk"] for item in items if item.get("url")}

    def origins(self) -> list[str]:
        answer = dynamodb().get_item(
            TableName=_table(), Key={"pk": _s(self._keys.key("tracking")), "sk": _s("origins")}
        )
        return sorted(_plain(answer.get("Item", {})).get("origins", []))

    def put_origins(self, origins: Iterable[str]) -> None:
        listed = sorted(set(origins))
        item = {"pk": _s(self._keys.key("tracking")), "sk": _s("origins")}
        if listed:
            item["origins"] = {"SS": listed}
        dynamodb().put_item(TableName=_table(), Item=item)

    def _query(
        self,
        condition: str,
        values: dict[str, Any],
        *,
        index: str | None = None,
        forward: bool = True,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": _table(),
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": forward,
        }
        if index:
            request["IndexName"] = index
        items: list[dict[str, Any]] = []
        while True:
            if limit is not None:
                request["Limit"] = limit - len(items)
            answer = dynamodb().query(**request)
            items += [_plain(item) for item in answer["Items"]]
            if "LastEvaluatedKey" not in answer or (limit is not None and len(items) >= limit):
                return items
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def now_ms() -> int:
    return int(time.time() * 1000)
