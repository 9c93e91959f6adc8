"""Alert rules: de-bounce, budget windows, wording; the intake's per-process limit; the simulator's daily cap."""

from chalicelib.domain import view_alerts
from chalicelib.domain.window_limit import WindowLimit
from local.wecom_sim import SimConfig
from local.wecom_sim.appmsg import AppMessageCaps

T = 1_800_000_000.0


def test_one_alert_per_customer_and_material_per_half_hour():
    assert not view_alerts.debounced(None, T)
    assert view_alerts.debounced(T, T + view_alerts.DEBOUNCE_SECONDS - 1)
    assert not view_alerts.debounced(T, T + view_alerts.DEBOUNCE_SECONDS)


def test_windows_and_the_wait_for_the_next_one():
    assert view_alerts.window_of(view_alerts.MINUTE, T + 59) - view_alerts.window_of(view_alerts.MINUTE, T) in (0, 1)
    assert 1 <= view_alerts.seconds_until_next(view_alerts.MINUTE, T + 30) <= 61
    midnight_china = 1_800_057_600.0 - 8 * 3600
    assert view_alerts.day_of(midnight_china - 1) != view_alerts.day_of(midnight_china)
    assert view_alerts.seconds_until_next(view_alerts.DAY, midnight_china - 10) == 11


def test_the_app_budget_is_the_seats_times_200_and_wording():
    assert view_alerts.app_daily_budget(12) == 2400
    assert view_alerts.app_daily_budget(0) == 200
    assert view_alerts.view_alert_line("王先生", "春季手册", 2) == "客户 王先生 正在看「春季手册」, 今天第 2 次"
    lines = [f"line {n}" for n in range(view_alerts.DIGEST_MAX_LINES + 3)]
    assert view_alerts.digest_description(lines).endswith("…另有 3 条")


def test_the_window_limit_counts_per_key_and_stays_bounded():
    limit = WindowLimit(2, 60, max_keys=3)
    assert [limit.admit("ip", T) for _ in range(3)] == [True, True, False]
    assert limit.admit("ip", T + 60)
    for n in range(10):
        limit.admit(f"k{n}", T + 60)
    assert len(limit._counts) <= 3


def test_the_simulator_drops_app_messages_over_the_app_daily_budget():
    caps = AppMessageCaps(SimConfig(app_msg_per_app_day=3), seats=10)
    delivered = [caps.deliver(f"u{n}", T + n) for n in range(5)]
    assert delivered == [True, True, True, False, False]
    assert caps.deliver("u9", T + 86_400)
    assert AppMessageCaps(SimConfig(), seats=2)._daily.limit == 400
