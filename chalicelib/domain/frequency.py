"""Per-customer frequency rules, applied at planning time so the preview can say who is skipped and why.

Two kinds of rule. WeCom's receiving quota (path/92135): a customer receives at most N mass messages per natural
month where N = the days in that month (the default), or the admin's choice of 7 per natural week or 1 per natural
day; corps on the older rule get 4 per natural month. "Natural" periods are taken in the tenant's timezone
(Asia/Shanghai unless configured); weeks run Monday to Sunday. Every receipt we know of counts, whichever broadcast
or sender it came from. Then the tenant's own quiet rules: at most N messages in any K days (future planned messages
count too), or none within H hours (either side) of another one.

Receipts of the broadcast being planned are ignored, so re-planning after a crash (when its own receipts are
already written) reaches the same decision.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from chalicelib.domain.audience import Receipt, SkipReason

DEFAULT_TIMEZONE = "Asia/Shanghai"
RECEIPT_RETENTION = timedelta(days=62)
"""Receipts older than this can no longer decide anything (longest period: a month; quiet rules are capped)."""
MAX_QUIET_DAYS = 31


class WeComQuota(StrEnum):
    """The corp's receiving rule as set in 群发助手 → 设置群发规则."""

    DAYS_IN_MONTH = "month"
    WEEKLY = "week"
    DAILY = "day"
    LEGACY_MONTHLY = "legacy_month_4"


@dataclass(frozen=True)
class AtMostPerDays:
    """Tenant rule: at most `count` messages in any window of `days` days (planned future messages included)."""

    count: int
    days: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 1 <= self.days <= MAX_QUIET_DAYS:
            raise ValueError(f"at most {self.count} per {self.days} days: need count >= 1, 1 <= days <= 31")


@dataclass(frozen=True)
class MinimumGap:
    """Tenant rule: no message within `hours` hours before or after another one."""

    hours: float

    def __post_init__(self) -> None:
        if not 0 < self.hours <= MAX_QUIET_DAYS * 24:
            raise ValueError(f"minimum gap of {self.hours} hours: need 0 < hours <= {MAX_QUIET_DAYS * 24}")


QuietRule = AtMostPerDays | MinimumGap


@dataclass(frozen=True)
class FrequencyPolicy:
    """A tenant's frequency rules."""

    quota: WeComQuota = WeComQuota.DAYS_IN_MONTH
    quiet_rules: tuple[QuietRule, ...] = ()
    timezone: str = DEFAULT_TIMEZONE

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def quota_period(quota: WeComQuota, local_day: date) -> tuple[date, date, int]:
    """The natural period containing `local_day` as (first day, first day after, how many messages it allows)."""
    if quota is WeComQuota.DAILY:
        return local_day, local_day + timedelta(days=1), 1
    if quota is WeComQuota.WEEKLY:
        monday = local_day - timedelta(days=local_day.weekday())
        return monday, monday + timedelta(days=7), 7
    first = local_day.replace(day=1)
    days = calendar.monthrange(local_day.year, local_day.month)[1]
    allowed = 4 if quota is WeComQuota.LEGACY_MONTHLY else days
    return first, first + timedelta(days=days), allowed


def check_frequency(
    policy: FrequencyPolicy, receipts: Iterable[Receipt], send_at: datetime, broadcast_id: str
) -> SkipReason | None:
    """Why a customer with these receipts may not receive `broadcast_id` at `send_at`; None when they may."""
    if send_at.tzinfo is None:
        raise ValueError("send_at must be timezone-aware")
    others = [r.at for r in receipts if r.broadcast_id != broadcast_id]
    zone = policy.zone
    start, end, allowed = quota_period(policy.quota, send_at.astimezone(zone).date())
    if sum(1 for at in others if start <= at.astimezone(zone).date() < end) >= allowed:
        return SkipReason.RECEIVING_QUOTA
    for rule in policy.quiet_rules:
        if isinstance(rule, AtMostPerDays):
            if _window_full(rule, others, send_at):
                return SkipReason.QUIET_RULE
        elif any(abs(at - send_at) < timedelta(hours=rule.hours) for at in others):
            return SkipReason.QUIET_RULE
    return None


def _window_full(rule: AtMostPerDays, others: list[datetime], send_at: datetime) -> bool:
    """Whether some `days`-long window (end - days, end] containing `send_at` already holds `count` messages.

    Only windows ending at `send_at` or at a later message can be the fullest, so those are the ones checked."""
    span = timedelta(days=rule.days)
    ends = [send_at, *(at for at in others if send_at < at < send_at + span)]
    return any(sum(1 for at in others if end - span < at <= end) >= rule.count for end in ends)


def expired_receipts(receipts: Iterable[Receipt], now: datetime) -> list[Receipt]:
    """Receipts too old to matter, which the store may delete."""
    return [r for r in receipts if r.at < now - RECEIPT_RETENTION]
