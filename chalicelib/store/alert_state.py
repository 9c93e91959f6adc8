"""The state behind alerts to sharers, in the `runtime` table: de-bounce gates, send budgets, pending digests.

| item | pk | sk |
|---|---|---|
| a customer's opens of a material today, last alert | `<t>#vgate#<customer>#<material>` | `gate` |
| alerts sent to a member in a minute / an hour | `<t>#abudget#<userid>` | `m#<minute>` / `h#<hour>` |
| the app's recipient-sends of a day | `<t>#abudget` | `d#<day>` |
| a member's pending digest | `<t>#adigest#<userid>` | `pending` |

Every budget take is one ADD on condition that the count is below the limit, so the fleet never goes over it; a
refused take in a later window leaves the earlier token spent (the fleet then stays a little below the limit).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from chalicelib import resources
from chalicelib.config import get_settings
from chalicelib.domain import view_alerts
from chalicelib.domain.view_alerts import DAY, HOUR, MINUTE, WINDOW_SECONDS, Budget
from chalicelib.store.keys import TenantKeys
from chalicelib.store.tracking import dynamodb, is_condition_failure

GATE_TTL_SECONDS = 2 * 86_400


def _table() -> str:
    return get_settings().table(resources.RUNTIME)


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


class AlertState:
    """One tenant's alert gates, budgets and digests."""

    def __init__(self, tenant_id: str) -> None:
        self._keys = TenantKeys(tenant_id)

    def count_open(self, customer: str, material_id: str, now: float) -> tuple[int, float | None]:
        """Count one open of the material by the customer today: (opens today, when last alerted or None)."""
        day = view_alerts.day_of(now)
        key = _key(self._keys.key("vgate", customer, material_id), "gate")
        expires = {"N": str(int(now) + GATE_TTL_SECONDS)}
        try:
            answer = dynamodb().update_item(
                TableName=_table(),
                Key=key,
                UpdateExpression="ADD opens_today :one SET expires_at = :exp",
                ConditionExpression="#day = :day",
                ExpressionAttributeNames={"#day": "day"},
                ExpressionAttributeValues={":one": {"N": "1"}, ":day": {"S": day}, ":exp": expires},
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if not is_condition_failure(error):
                raise
            answer = dynamodb().update_item(
                TableName=_table(),
                Key=key,
                UpdateExpression="SET #day = :day, opens_today = :one, expires_at = :exp",
                ExpressionAttributeNames={"#day": "day"},
                ExpressionAttributeValues={":one": {"N": "1"}, ":day": {"S": day}, ":exp": expires},
                ReturnValues="ALL_NEW",
            )
        item = answer["Attributes"]
        last = item.get("last_alert_at")
        return int(item["opens_today"]["N"]), float(last["N"]) if last else None

    def claim_alert(self, customer: str, material_id: str, now: float) -> bool:
        """Claim this customer and material's alert: False when another was sent within the de-bounce period."""
        try:
            dynamodb().update_item(
                TableName=_table(),
                Key=_key(self._keys.key("vgate", customer, material_id), "gate"),
                UpdateExpression="SET last_alert_at = :now",
                ConditionExpression="attribute_not_exists(last_alert_at) OR last_alert_at <= :cutoff",
                ExpressionAttributeValues={
                    ":now": {"N": str(now)},
                    ":cutoff": {"N": str(now - view_alerts.DEBOUNCE_SECONDS)},
                },
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def take_budget(self, userid: str, budget: Budget, now: float) -> str | None:
        """Count one alert to `userid` in every window; None when it fits, else the window that is full."""
        takes = (
            (self._keys.key("abudget"), DAY, budget.per_app_day),
            (self._keys.key("abudget", userid), MINUTE, budget.per_member_minute),
            (self._keys.key("abudget", userid), HOUR, budget.per_member_hour),
        )
        for pk, kind, limit in takes:
            window = view_alerts.window_of(kind, now)
            try:
                dynamodb().update_item(
                    TableName=_table(),
                    Key=_key(pk, f"{kind}#{window}"),
                    UpdateExpression="ADD n :one SET expires_at = :exp",
                    ConditionExpression="attribute_not_exists(n) OR n < :limit",
                    ExpressionAttributeValues={
                        ":one": {"N": "1"},
                        ":limit": {"N": str(limit)},
                        ":exp": {"N": str(int(now) + 2 * WINDOW_SECONDS[kind])},
                    },
                )
            except ClientError as error:
                if is_condition_failure(error):
                    return kind
                raise
        return None

    def add_to_digest(self, userid: str, line: str, now: float) -> int:
        """Append a line to the member's pending digest; how many lines it holds now."""
        answer = dynamodb().update_item(
            TableName=_table(),
            Key=_key(self._keys.key("adigest", userid), "pending"),
            UpdateExpression="SET #lines = list_append(if_not_exists(#lines, :empty), :line), first_at = "
            "if_not_exists(first_at, :now) ADD n :one",
            ExpressionAttributeNames={"#lines": "lines"},
            ExpressionAttributeValues={
                ":empty": {"L": []},
                ":line": {"L": [{"S": line}]},
                ":now": {"N": str(int(now))},
                ":one": {"N": "1"},
            },
            ReturnValues="UPDATED_NEW",
        )
        return int(answer["Attributes"]["n"]["N"])

    def take_digest(self, userid: str) -> list[str]:
        """Remove and return the member's pending digest lines (lines appended after this start a new digest)."""
        answer = dynamodb().delete_item(
            TableName=_table(), Key=_key(self._keys.key("adigest", userid), "pending"), ReturnValues="ALL_OLD"
        )
        lines = answer.get("Attributes", {}).get("lines", {}).get("L", [])
        return [line["S"] for line in lines]

    def put_digest_back(self, userid: str, lines: list[str], now: float) -> None:
        """Return lines taken for a digest whose send failed, ahead of any appended since."""
        dynamodb().update_item(
            TableName=_table(),
            Key=_key(self._keys.key("adigest", userid), "pending"),
            UpdateExpression="SET #lines = list_append(:lines, if_not_exists(#lines, :empty)), first_at = "
            "if_not_exists(first_at, :now) ADD n :n",
            ExpressionAttributeNames={"#lines": "lines"},
            ExpressionAttributeValues={
                ":empty": {"L": []},
                ":lines": {"L": [{"S": line} for line in lines]},
                ":now": {"N": str(int(now))},
                ":n": {"N": str(len(lines))},
            },
        )
