"""Usage counters per tenant: one item per tenant and month, plus one item of running totals.

`record_usage` is one cheap atomic UpdateItem (ADD), safe from any number of concurrent Lambdas; it also stamps when
the metric was last recorded, which is how the operator sees a tenant's last callback. `take` is the same write on
condition that the counter is below a quota, so the quota holds however many callers take at once. Items live in the
tenants table at `<tenant>#usage / <YYYY-MM>` and `<tenant>#usage / totals`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import boto3
from botocore.exceptions import ClientError

from chalicelib import resources
from chalicelib.config import get_settings
from chalicelib.store.dynamo import CONDITION_FAILED
from chalicelib.store.keys import TenantKeys

MASS_MESSAGES = "mass_messages"
MASS_RECIPIENTS = "mass_recipients"
WECOM_CALLS = "wecom_calls"
WECOM_ERRORS = "wecom_errors"
CALLBACKS = "callbacks"
BEACONS = "beacons"
MONTHLY_METRICS: tuple[str, ...] = (MASS_MESSAGES, MASS_RECIPIENTS, WECOM_CALLS, WECOM_ERRORS, CALLBACKS, BEACONS)

CUSTOMERS = "customers"
EMPLOYEES = "employees"
TOTAL_METRICS: tuple[str, ...] = (CUSTOMERS, EMPLOYEES)

TOTALS_SK = "totals"


@dataclass(frozen=True)
class Usage:
    """A tenant's counters for one month and its running totals, with when each was last recorded."""

    counts: dict[str, int]
    last_at: dict[str, int]

    def as_dict(self) -> dict[str, object]:
        return {"counts": dict(self.counts), "last_at": dict(self.last_at)}


def month_of(epoch_seconds: float) -> str:
    return time.strftime("%Y-%m", time.gmtime(epoch_seconds))


@lru_cache(maxsize=4)
def _client(region: str, endpoint: str | None) -> Any:
    return boto3.client("dynamodb", region_name=region)


def _dynamodb(region: str) -> Any:
    return _client(region, os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ.get("AWS_ENDPOINT_URL"))


def _key(tenant_id: str, sk: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": TenantKeys(tenant_id).key("usage")}, "sk": {"S": sk}}


def _add(tenant_id: str, sk: str, metric: str, n: int, now: float, below: int | None = None) -> None:
    """ADD `n` to the counter and stamp the time; with `below`, only while the counter is below it."""
    settings = get_settings()
    values = {":n": {"N": str(n)}, ":at": {"N": str(int(now))}}
    condition: dict[str, Any] = {}
    if below is not None:
        condition["ConditionExpression"] = "attribute_not_exists(#n) OR #n < :below"
        values[":below"] = {"N": str(below)}
    _dynamodb(settings.region).update_item(
        TableName=settings.table(resources.TENANTS),
        Key=_key(tenant_id, sk),
        UpdateExpression="ADD #n :n SET #at = :at",
        ExpressionAttributeNames={"#n": f"n_{metric}", "#at": f"at_{metric}"},
        ExpressionAttributeValues=values,
        **condition,
    )


def record_usage(tenant_id: str, metric: str, n: int = 1, *, now: float | None = None) -> None:
    """Add `n` to this month's counter of `metric` (one of MONTHLY_METRICS) for the tenant."""
    if metric not in MONTHLY_METRICS:
        raise KeyError(f"unknown monthly metric {metric!r}")
    now = time.time() if now is None else now
    _add(tenant_id, month_of(now), metric, n, now)


def take(tenant_id: str, metric: str, allowed: int, *, now: float) -> bool:
    """Count one use of this month's `metric` if fewer than `allowed` are counted; False (nothing counted) if not.
    The condition is part of the write, so concurrent callers can never count more than `allowed` between them."""
    if metric not in MONTHLY_METRICS:
        raise KeyError(f"unknown monthly metric {metric!r}")
    try:
        _add(tenant_id, month_of(now), metric, 1, now, below=allowed)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == CONDITION_FAILED:
            return False
        raise
    return True


def give_back(tenant_id: str, metric: str, *, now: float) -> None:
    """Undo a `take` made at `now` whose work then failed."""
    record_usage(tenant_id, metric, -1, now=now)


def record_total(tenant_id: str, metric: str, delta: int, *, now: float | None = None) -> None:
    """Move a running total (one of TOTAL_METRICS, e.g. customers +1 on add, -1 on delete) by `delta`."""
    if metric not in TOTAL_METRICS:
        raise KeyError(f"unknown total metric {metric!r}")
    _add(tenant_id, TOTALS_SK, metric, delta, time.time() if now is None else now)


def _usage(items: list[dict[str, Any]]) -> Usage:
    counts: dict[str, int] = {m: 0 for m in (*MONTHLY_METRICS, *TOTAL_METRICS)}
    last_at: dict[str, int] = {}
    for item in items:
        for name, value in item.items():
            if name.startswith("n_"):
                counts[name[2:]] = int(value["N"])
            elif name.startswith("at_"):
                last_at[name[3:]] = int(value["N"])
    return Usage(counts, last_at)


def usage_of(tenant_ids: list[str], month: str) -> dict[str, Usage]:
    """The month's counters and the running totals of each tenant (BatchGetItem, 50 tenants per request)."""
    settings = get_settings()
    table = settings.table(resources.TENANTS)
    client = _dynamodb(settings.region)
    found: dict[str, list[dict[str, Any]]] = {t: [] for t in tenant_ids}
    for start in range(0, len(tenant_ids), 50):
        keys = [_key(t, sk) for t in tenant_ids[start : start + 50] for sk in (month, TOTALS_SK)]
        request: dict[str, Any] = {table: {"Keys": keys, "ConsistentRead": True}}
        while request:
            answer = client.batch_get_item(RequestItems=request)
            for item in answer["Responses"].get(table, []):
                found[item["pk"]["S"].rsplit("#", 1)[0]].append(item)
            request = answer.get("UnprocessedKeys") or {}
    return {tenant_id: _usage(items) for tenant_id, items in found.items()}
