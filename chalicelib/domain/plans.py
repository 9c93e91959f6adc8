"""Plans, a tenant's standing and its health: pure rules on plain values.

A plan is a set of feature flags and quotas. A tenant is in good standing while it is not suspended and its paid (or
trial) period has not ended; an expired tenant must pay (402), a suspended one is refused (403). Callbacks are accepted
whatever the standing so that no customer data is lost; only admin calls are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

DAY = 24 * 3600

CHANNELS = "channels"
MASS_MESSAGES = "mass_messages"
TRACKING = "tracking"
TASKS = "tasks"
FEATURES: tuple[str, ...] = (CHANNELS, MASS_MESSAGES, TRACKING, TASKS)

CUSTOMERS = "customers"
EMPLOYEES = "employees"
MASS_MESSAGES_PER_MONTH = "mass_messages_per_month"
BEACONS_PER_DAY = "beacons_per_day"
QUOTAS: tuple[str, ...] = (CUSTOMERS, EMPLOYEES, MASS_MESSAGES_PER_MONTH, BEACONS_PER_DAY)


@dataclass(frozen=True)
class Plan:
    """What a tenant may use: feature flags and quotas; a trial also has a fixed length."""

    name: str
    features: frozenset[str]
    quotas: dict[str, int]
    trial_days: int | None = None

    def allows(self, feature: str) -> bool:
        return feature in self.features

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "features": sorted(self.features),
            "quotas": dict(self.quotas),
            "trial_days": self.trial_days,
        }


TRIAL = "trial"
PLANS: dict[str, Plan] = {
    TRIAL: Plan(
        TRIAL,
        frozenset({CHANNELS, MASS_MESSAGES}),
        {CUSTOMERS: 2_000, EMPLOYEES: 20, MASS_MESSAGES_PER_MONTH: 4, BEACONS_PER_DAY: 10_000},
        trial_days=14,
    ),
    "basic": Plan(
        "basic",
        frozenset({CHANNELS, MASS_MESSAGES}),
        {CUSTOMERS: 50_000, EMPLOYEES: 200, MASS_MESSAGES_PER_MONTH: 30, BEACONS_PER_DAY: 100_000},
    ),
    "pro": Plan(
        "pro",
        frozenset(FEATURES),
        {CUSTOMERS: 1_000_000, EMPLOYEES: 2_000, MASS_MESSAGES_PER_MONTH: 300, BEACONS_PER_DAY: 2_000_000},
    ),
    "enterprise": Plan(
        "enterprise",
        frozenset(FEATURES),
        {CUSTOMERS: 10_000_000, EMPLOYEES: 20_000, MASS_MESSAGES_PER_MONTH: 3_000, BEACONS_PER_DAY: 50_000_000},
    ),
}


class QuotaExceeded(Exception):
    """The plan's monthly mass messages are used up (a 402 with this reason)."""


class UnknownPlan(ValueError):
    """A plan name that is not in PLANS."""


def get_plan(name: str) -> Plan:
    try:
        return PLANS[name]
    except KeyError:
        raise UnknownPlan(name) from None


class Standing(Enum):
    """Whether a tenant's admins may work; the HTTP status a refusal answers with."""

    ACTIVE = 200
    EXPIRED = 402
    SUSPENDED = 403


ACTIVE_STATUS = "active"
SUSPENDED_STATUS = "suspended"


def standing(status: str, expires_at: int, now: int) -> Standing:
    """Suspension wins over expiry: a suspended tenant that also expired is told it is suspended."""
    if status == SUSPENDED_STATUS:
        return Standing.SUSPENDED
    if now >= expires_at:
        return Standing.EXPIRED
    return Standing.ACTIVE


def not_sent_reason(standing_now: Standing) -> str:
    """Why a mass message or moment scheduled earlier is not sent at its time: the tenant's standing then."""
    if standing_now is Standing.SUSPENDED:
        return "not sent: the tenant was suspended at its send time"
    return "not sent: the tenant's subscription had ended at its send time"


def first_expiry(plan: Plan, now: int, paid_days: int | None) -> int:
    """When a new tenant's period ends: the trial's length, or the days paid for."""
    days = plan.trial_days if plan.trial_days is not None else paid_days
    if not days or days <= 0:
        raise ValueError("a paid plan needs a positive number of days")
    return now + days * DAY


def renewed_expiry(expires_at: int, now: int, days: int) -> int:
    """Renewing adds days to the current period, or starts a new one from now when it already ended."""
    if days <= 0:
        raise ValueError("days must be positive")
    return max(expires_at, now) + days * DAY


EXPIRES_SOON_DAYS = 7
QUIET_CALLBACK_DAYS = 7
WECOM_ERROR_RATE = 0.05
QUOTA_WARNING = 0.9


def health_flags(
    *,
    standing_now: Standing,
    expires_at: int,
    now: int,
    plan: Plan,
    usage: dict[str, int],
    last_callback_at: int | None,
) -> list[str]:
    """What an operator should look at for one tenant, most urgent first; empty when all is well."""
    flags: list[str] = []
    if standing_now is Standing.SUSPENDED:
        flags.append("suspended")
    elif standing_now is Standing.EXPIRED:
        flags.append("expired")
    elif expires_at - now <= EXPIRES_SOON_DAYS * DAY:
        flags.append("expires_soon")
    if last_callback_at is None:
        flags.append("no_callback_yet")
    elif now - last_callback_at > QUIET_CALLBACK_DAYS * DAY:
        flags.append("callbacks_quiet")
    calls = usage.get("wecom_calls", 0)
    if calls and usage.get("wecom_errors", 0) / calls > WECOM_ERROR_RATE:
        flags.append("wecom_errors_high")
    for quota, used in ((CUSTOMERS, usage.get("customers", 0)), (EMPLOYEES, usage.get("employees", 0))):
        if used >= QUOTA_WARNING * plan.quotas[quota]:
            flags.append(f"{quota}_quota_near")
    if usage.get("mass_messages", 0) >= QUOTA_WARNING * plan.quotas[MASS_MESSAGES_PER_MONTH]:
        flags.append("mass_messages_quota_near")
    return flags
