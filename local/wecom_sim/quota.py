"""Per-customer receiving quota for mass messages, counted across every mass message of a corp.

WeCom's current rule is "as many per month as the month has days", selectable by the admin as 7 per week or 1 per day;
the legacy rule was 4 per calendar month. Periods are natural periods in China time (UTC+8).
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta, timezone

CHINA = timezone(timedelta(hours=8))


def _local(moment: float) -> datetime:
    return datetime.fromtimestamp(moment, UTC).astimezone(CHINA)


def period_and_limit(rule: str, moment: float) -> tuple[tuple[int, ...], int]:
    """The period a send at ``moment`` falls in and how many sends that period allows."""
    local = _local(moment)
    if rule == "days_in_month":
        return (local.year, local.month), calendar.monthrange(local.year, local.month)[1]
    if rule == "legacy_month_4":
        return (local.year, local.month), 4
    if rule == "week_7":
        iso = local.isocalendar()
        return (iso.year, iso.week), 7
    if rule == "day_1":
        return (local.year, local.month, local.day), 1
    raise ValueError(f"unknown quota rule {rule}")


class ReceiveQuota:
    """Counts deliveries per receiver (external_userid or chat_id) per period."""

    def __init__(self, rule: str) -> None:
        self.rule = rule
        self._counts: dict[str, dict[tuple[int, ...], int]] = {}

    def try_receive(self, receiver: str, moment: float) -> bool:
        """Count one delivery if the receiver's quota for the period allows it; False means over quota."""
        period, limit = period_and_limit(self.rule, moment)
        periods = self._counts.setdefault(receiver, {})
        used = periods.get(period, 0)
        if used >= limit:
            return False
        periods[period] = used + 1
        return True
