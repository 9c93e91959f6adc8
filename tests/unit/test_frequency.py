"""Frequency rules: WeCom's receiving quota by natural period in the tenant's timezone, and the tenant's quiet rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from chalicelib.domain.audience import Receipt, SkipReason
from chalicelib.domain.frequency import (
    AtMostPerDays,
    FrequencyPolicy,
    MinimumGap,
    WeComQuota,
    check_frequency,
    expired_receipts,
    quota_period,
)

SH = ZoneInfo("Asia/Shanghai")


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


def receipts(*times: datetime) -> list[Receipt]:
    return [Receipt(f"old{i}", t) for i, t in enumerate(times)]


def test_daily_quota_uses_the_shanghai_day_not_utc():
    policy = FrequencyPolicy(quota=WeComQuota.DAILY)
    # 23:30 UTC on the 9th is 07:30 on the 10th in Shanghai: same local day as 10:00 on the 10th
    seen = receipts(datetime(2026, 3, 9, 23, 30, tzinfo=UTC))
    assert check_frequency(policy, seen, at(2026, 3, 10, 10), "b") is SkipReason.RECEIVING_QUOTA
    # 15:59 UTC on the 9th is 23:59 on the 9th in Shanghai: the previous day
    seen = receipts(datetime(2026, 3, 9, 15, 59, tzinfo=UTC))
    assert check_frequency(policy, seen, at(2026, 3, 10, 10), "b") is None


def test_weekly_quota_counts_monday_to_sunday():
    policy = FrequencyPolicy(quota=WeComQuota.WEEKLY)
    week = [at(2026, 3, 9 + d, 9) for d in range(7)]  # Monday 9th .. Sunday 15th
    assert check_frequency(policy, receipts(*week[:6]), at(2026, 3, 15, 20), "b") is None
    assert check_frequency(policy, receipts(*week), at(2026, 3, 15, 20), "b") is SkipReason.RECEIVING_QUOTA
    assert check_frequency(policy, receipts(*week), at(2026, 3, 16, 0), "b") is None


@pytest.mark.parametrize(("month", "days"), [(2, 28), (4, 30), (3, 31)])
def test_monthly_quota_is_the_days_in_the_month(month, days):
    policy = FrequencyPolicy()
    full = receipts(*(at(2026, month, 1, 8) + timedelta(days=d) for d in range(days)))
    assert check_frequency(policy, full[:-1], at(2026, month, 15, 10), "b") is None
    assert check_frequency(policy, full, at(2026, month, 15, 10), "b") is SkipReason.RECEIVING_QUOTA
    assert quota_period(WeComQuota.DAYS_IN_MONTH, date(2026, month, 3))[2] == days


def test_legacy_quota_is_four_per_natural_month_and_resets_on_the_first():
    policy = FrequencyPolicy(quota=WeComQuota.LEGACY_MONTHLY)
    four = receipts(at(2026, 1, 3, 9), at(2026, 1, 10, 9), at(2026, 1, 20, 9), at(2026, 1, 31, 23, 59))
    assert check_frequency(policy, four[:3], at(2026, 1, 31, 10), "b") is None
    assert check_frequency(policy, four, at(2026, 1, 31, 10), "b") is SkipReason.RECEIVING_QUOTA
    assert check_frequency(policy, four, at(2026, 2, 1, 0), "b") is None


def test_receipts_of_other_periods_and_of_the_same_broadcast_do_not_count():
    policy = FrequencyPolicy(quota=WeComQuota.DAILY)
    assert check_frequency(policy, [Receipt("b", at(2026, 3, 10, 9))], at(2026, 3, 10, 10), "b") is None
    assert check_frequency(policy, [Receipt("x", at(2026, 3, 10, 9))], at(2026, 3, 10, 10), "b") is not None


def test_quiet_rule_at_most_n_per_k_days():
    policy = FrequencyPolicy(quiet_rules=(AtMostPerDays(count=2, days=7),))
    send = at(2026, 3, 20, 10)
    two_recent = receipts(send - timedelta(days=6, hours=23), send - timedelta(days=1))
    assert check_frequency(policy, two_recent, send, "b") is SkipReason.QUIET_RULE
    one_aged_out = receipts(send - timedelta(days=7), send - timedelta(days=1))
    assert check_frequency(policy, one_aged_out, send, "b") is None


def test_quiet_rule_sees_messages_already_planned_for_later():
    policy = FrequencyPolicy(quiet_rules=(AtMostPerDays(count=2, days=7),))
    send = at(2026, 3, 20, 10)
    around = receipts(send - timedelta(days=3), send + timedelta(days=3))
    assert check_frequency(policy, around, send, "b") is SkipReason.QUIET_RULE
    apart = receipts(send - timedelta(days=8), send + timedelta(days=3), send + timedelta(days=9))
    assert check_frequency(policy, apart, send, "b") is None


def test_quiet_rule_minimum_gap_applies_both_sides():
    policy = FrequencyPolicy(quiet_rules=(MinimumGap(hours=24),))
    send = at(2026, 3, 20, 10)
    assert check_frequency(policy, receipts(send + timedelta(hours=23)), send, "b") is SkipReason.QUIET_RULE
    assert check_frequency(policy, receipts(send - timedelta(hours=23)), send, "b") is SkipReason.QUIET_RULE
    assert check_frequency(policy, receipts(send - timedelta(hours=24)), send, "b") is None


def test_rules_refuse_nonsense_and_naive_times():
    with pytest.raises(ValueError, match="days"):
        AtMostPerDays(1, 0)
    with pytest.raises(ValueError, match="hours"):
        MinimumGap(0)
    with pytest.raises(ValueError, match="aware"):
        check_frequency(FrequencyPolicy(), [], datetime(2026, 1, 1), "b")


def test_expired_receipts_are_those_older_than_the_retention():
    now = at(2026, 3, 20)
    old, recent = Receipt("a", now - timedelta(days=63)), Receipt("b", now - timedelta(days=40))
    assert expired_receipts([old, recent], now) == [old]
