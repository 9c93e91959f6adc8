"""The state behind alerts to sharers, in the `runtime` table: send budgets and pending digests (the de-bounce
gate is the day's hot-customer item, `store.tracking`).

| item | pk | sk |
|---|---|---|
| alerts sent to a member in an hour (`n`) and its minutes (`m<minute>`) | `<t>#abudget#<userid>` | `h#<hour>` |
| the app's recipient-sends of a day, reserved by processes in chunks | `<t>#abudget` | `d#<day>` |
| a member's pending digest | `<t>#adigest#<userid>` | `pending` |

Every budget take is one ADD on condition that the count is below the limit, so the fleet never goes over it; a
refused take in a later window leaves the earlier token spent (the fleet then stays a little below the limit).
"""

from __future__ import annotations

import threading
from typing import Any

from botocore.exceptions import ClientError

from chalicelib import resources
from chalicelib.config import get_settings
from chalicelib.domain import view_alerts
from chalicelib.domain.view_alerts import DAY, HOUR, MINUTE, WINDOW_SECONDS, Budget
from chalicelib.store.keys import TenantKeys
from chalicelib.store.tracking import dynamodb, is_condition_failure

DAY_RESERVATION = 20
DAY_RESERVATION_SHARE = 200


def reservation_size(limit: int) -> int:
    """How many of the app's daily sends a process reserves at once: up to DAY_RESERVATION, and at most
    1/DAY_RESERVATION_SHARE of the budget, so a fleet of processes cannot tie up a small budget between them."""
    return max(1, min(DAY_RESERVATION, limit // DAY_RESERVATION_SHARE))


_reservations: dict[tuple[str, int], int] = {}
_reservations_lock = threading.Lock()


def forget_reservations() -> None:
    """Drop this process's reservations of the app's daily budget (tests)."""
    with _reservations_lock:
        _reservations.clear()


def _table() -> str:
    return get_settings().table(resources.RUNTIME)


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


class AlertState:
    """One tenant's alert budgets and digests."""

    def __init__(self, tenant_id: str) -> None:
        self._keys = TenantKeys(tenant_id)

    def take_budget(self, userid: str, budget: Budget, now: float) -> str | None:
        """Count one alert to `userid` in every window; None when it fits, else the window that is full.

        The member's minute and hour share one item (`h#<hour>`: `n` and `m<minute>`), one conditional ADD; the
        app's day is taken from this process's reservation (`_reserve_day`)."""
        if not self._reserve_day(budget.per_app_day, now):
            return DAY
        hour, minute = view_alerts.window_of(HOUR, now), view_alerts.window_of(MINUTE, now)
        try:
            dynamodb().update_item(
                TableName=_table(),
                Key=_key(self._keys.key("abudget", userid), f"{HOUR}#{hour}"),
                UpdateExpression="ADD n :one, #m :one SET expires_at = :exp",
                ConditionExpression="(attribute_not_exists(n) OR n < :hour) "
                "AND (attribute_not_exists(#m) OR #m < :minute)",
                ExpressionAttributeNames={"#m": f"m{minute}"},
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":hour": {"N": str(budget.per_member_hour)},
                    ":minute": {"N": str(budget.per_member_minute)},
                    ":exp": {"N": str(int(now) + 2 * WINDOW_SECONDS[HOUR])},
                },
            )
        except ClientError as error:
            if not is_condition_failure(error):
                raise
            return self._full_window(userid, hour, minute, budget)
        return None

    def _full_window(self, userid: str, hour: int, minute: int, budget: Budget) -> str:
        item = (
            dynamodb()
            .get_item(
                TableName=_table(), Key=_key(self._keys.key("abudget", userid), f"{HOUR}#{hour}"), ConsistentRead=True
            )
            .get("Item", {})
        )
        return HOUR if int(item.get("n", {}).get("N", "0")) >= budget.per_member_hour else MINUTE

    def _reserve_day(self, limit: int, now: float) -> bool:
        """Take one of the app's recipient-sends of the day from this process's reservation, reserving up to
        DAY_RESERVATION more (one conditional ADD) when it is used up. Sends reserved but unused when the process
        ends are not given back: the app then stays a little below its daily budget, never above it."""
        day = view_alerts.window_of(DAY, now)
        key = (self._keys.tenant_id, day)
        with _reservations_lock:
            if _reservations.get(key, 0) > 0:
                _reservations[key] -= 1
                return True
            for size in sorted({reservation_size(limit), 1}, reverse=True):
                try:
                    dynamodb().update_item(
                        TableName=_table(),
                        Key=_key(self._keys.key("abudget"), f"{DAY}#{day}"),
                        UpdateExpression="ADD n :size SET expires_at = :exp",
                        ConditionExpression="attribute_not_exists(n) OR n <= :room",
                        ExpressionAttributeValues={
                            ":size": {"N": str(size)},
                            ":room": {"N": str(limit - size)},
                            ":exp": {"N": str(int(now) + 2 * WINDOW_SECONDS[DAY])},
                        },
                    )
                except ClientError as error:
                    if not is_condition_failure(error):
                        raise
                    continue
                _reservations[key] = size - 1
                return True
            return False

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
