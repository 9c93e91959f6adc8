"""Acquisition-link rules: campaign URLs, retention after N days, which events alert."""

from __future__ import annotations

from chalicelib.domain.acquisition import DAY, alert_text, campaign_url, retention

NOW = 100 * DAY


def test_a_campaign_url_carries_the_state_as_customer_channel():
    assert (
        campaign_url("https://work.weixin.qq.com/ca/cax", "s1")
        == "https://work.weixin.qq.com/ca/cax?customer_channel=s1"
    )
    assert campaign_url("https://w.example/ca?x=1", "a b") == "https://w.example/ca?x=1&customer_channel=a%20b"


def test_retention_counts_friends_old_enough_and_those_who_stayed():
    friends = [
        (NOW - 40 * DAY, None),  # stayed
        (NOW - 40 * DAY, NOW - 35 * DAY),  # left after 5 days
        (NOW - 20 * DAY, NOW - 5 * DAY),  # left after 15 days
        (NOW - 3 * DAY, None),  # too new for either window
    ]
    week = retention(friends, 7, NOW)
    month = retention(friends, 30, NOW)
    assert (week.eligible, week.still_friends) == (3, 2)
    assert (month.eligible, month.still_friends) == (2, 1)


def test_only_quota_and_link_failures_alert():
    assert "20" in alert_text("balance_low")
    assert "「春季」" in alert_text("link_unavailable", "春季")
    assert alert_text("balance_increased") is None
    assert alert_text("customer_start_chat") is None
