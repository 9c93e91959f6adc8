import pytest

from chalicelib.domain import plans
from chalicelib.domain.plans import DAY, Standing

NOW = 1_750_000_000


def test_suspension_wins_over_expiry_and_expiry_needs_payment():
    assert plans.standing("active", NOW + 1, NOW) is Standing.ACTIVE
    assert plans.standing("active", NOW, NOW) is Standing.EXPIRED
    assert plans.standing("suspended", NOW - DAY, NOW) is Standing.SUSPENDED
    assert (Standing.EXPIRED.value, Standing.SUSPENDED.value) == (402, 403)


def test_trial_lasts_its_days_and_a_paid_plan_needs_days():
    trial = plans.get_plan(plans.TRIAL)
    assert plans.first_expiry(trial, NOW, None) == NOW + 14 * DAY
    assert plans.first_expiry(plans.get_plan("pro"), NOW, 30) == NOW + 30 * DAY
    with pytest.raises(ValueError, match="positive"):
        plans.first_expiry(plans.get_plan("pro"), NOW, None)


def test_renewal_extends_a_running_period_and_restarts_an_ended_one():
    assert plans.renewed_expiry(NOW + 5 * DAY, NOW, 30) == NOW + 35 * DAY
    assert plans.renewed_expiry(NOW - 5 * DAY, NOW, 30) == NOW + 30 * DAY
    with pytest.raises(ValueError, match="positive"):
        plans.renewed_expiry(NOW, NOW, 0)


def test_trial_lacks_tracking_and_tasks_and_every_plan_has_every_quota():
    trial = plans.get_plan(plans.TRIAL)
    assert trial.allows(plans.CHANNELS)
    assert not trial.allows(plans.TRACKING)
    assert not trial.allows(plans.TASKS)
    assert plans.get_plan("pro").allows(plans.TASKS)
    for plan in plans.PLANS.values():
        assert set(plan.quotas) == set(plans.QUOTAS)
    with pytest.raises(plans.UnknownPlan):
        plans.get_plan("platinum")


def test_health_flags_name_what_needs_attention():
    pro = plans.get_plan("pro")
    healthy = plans.health_flags(
        standing_now=Standing.ACTIVE,
        expires_at=NOW + 30 * DAY,
        now=NOW,
        plan=pro,
        usage={"wecom_calls": 100, "wecom_errors": 1},
        last_callback_at=NOW - 60,
    )
    assert healthy == []
    risky = plans.health_flags(
        standing_now=Standing.ACTIVE,
        expires_at=NOW + 2 * DAY,
        now=NOW,
        plan=pro,
        usage={"wecom_calls": 100, "wecom_errors": 10, "customers": 950_000, "mass_messages": 299},
        last_callback_at=NOW - 8 * DAY,
    )
    assert risky == [
        "expires_soon",
        "callbacks_quiet",
        "wecom_errors_high",
        "customers_quota_near",
        "mass_messages_quota_near",
    ]
    expired = plans.health_flags(
        standing_now=Standing.EXPIRED, expires_at=NOW - 1, now=NOW, plan=pro, usage={}, last_callback_at=None
    )
    assert expired == ["expired", "no_callback_yet"]
