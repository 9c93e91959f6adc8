"""A tenant's mass-message policy and its JSON form (what the admin API shows and the store keeps)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.frequency import AtMostPerDays, FrequencyPolicy, MinimumGap, WeComQuota

FOLLOW_HOURS_MAX = 30 * 24
"""How long results are followed at most: WeCom's records of a mass message are read back for up to 30 days."""
QUIET_RULES_MAX = 5


class InvalidPolicy(ValueError):
    """A policy field the admin got wrong; the message names it."""


@dataclass(frozen=True)
class Policy:
    """A tenant's mass-message policy: frequency rules, how long results are followed, reminders."""

    frequency: FrequencyPolicy = field(default_factory=FrequencyPolicy)
    follow_hours: int = 72
    auto_remind_after_hours: int = 0
    """0: no automatic reminders (the admin may still remind); otherwise remind non-confirmers after this long."""

    def to_json(self) -> dict[str, Any]:
        rules = [
            {"at_most": r.count, "days": r.days} if isinstance(r, AtMostPerDays) else {"gap_hours": r.hours}
            for r in self.frequency.quiet_rules
        ]
        return {
            "quota": self.frequency.quota.value,
            "quiet_rules": rules,
            "timezone": self.frequency.timezone,
            "follow_hours": self.follow_hours,
            "auto_remind_after_hours": self.auto_remind_after_hours,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Policy:
        rules: list[AtMostPerDays | MinimumGap] = [
            AtMostPerDays(int(r["at_most"]), int(r["days"])) if "at_most" in r else MinimumGap(float(r["gap_hours"]))
            for r in data.get("quiet_rules", ())
        ]
        frequency = FrequencyPolicy(
            WeComQuota(data.get("quota", WeComQuota.DAYS_IN_MONTH.value)),
            tuple(rules),
            data.get("timezone") or FrequencyPolicy().timezone,
        )
        return cls(frequency, int(data.get("follow_hours", 72)), int(data.get("auto_remind_after_hours", 0)))
