"""Real-time alerts to a sharer when an identified customer opens a material: de-bounce, budgets, wording.

WeCom drops app messages silently beyond 30 a minute or 1,000 an hour to one member, and beyond the account limit ×
200 recipient-sends a day per app (§4 message/send). An alert is therefore sent only within all three budgets,
counted before the send; one that does not fit joins the member's digest, sent as one message when the budget
that refused it opens again. One customer reading one material gives at most one alert per DEBOUNCE_SECONDS.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from chalicelib.domain import wecom_limits

DEBOUNCE_SECONDS = 1800
MINUTE, HOUR, DAY = "m", "h", "d"
WINDOW_SECONDS = {MINUTE: 60, HOUR: 3600, DAY: 86_400}
CHINA_OFFSET_SECONDS = 8 * 3600
DIGEST_MAX_LINES = 20
MAX_DELAY_SECONDS = 900


MEMBER_MARGIN = 0.9
"""Our windows are counted when we send, WeCom's when it receives: a send at the end of our minute can land in WeCom's
next one, so the member budgets keep a margin below WeCom's figures."""


@dataclass(frozen=True)
class Budget:
    """The windows an alert must fit in: per member per minute and hour, per app per day."""

    per_member_minute: int = int(wecom_limits.APP_MESSAGE_PER_MEMBER_PER_MINUTE * MEMBER_MARGIN)
    per_member_hour: int = int(wecom_limits.APP_MESSAGE_PER_MEMBER_PER_HOUR * MEMBER_MARGIN)
    per_app_day: int = wecom_limits.APP_MESSAGE_PERSON_TIMES_PER_SEAT_PER_DAY


def app_daily_budget(seats: int) -> int:
    """The app's recipient-sends a day: the account limit (seats) × 200."""
    return max(1, seats) * wecom_limits.APP_MESSAGE_PERSON_TIMES_PER_SEAT_PER_DAY


def window_of(kind: str, now: float) -> int:
    """The number of the fixed window (minute, hour, or China's natural day) `now` falls in."""
    offset = CHINA_OFFSET_SECONDS if kind == DAY else 0
    return int((now + offset) // WINDOW_SECONDS[kind])


def seconds_until_next(kind: str, now: float) -> int:
    """Seconds until the window `now` falls in ends (a digest waits that long), at least 1."""
    offset = CHINA_OFFSET_SECONDS if kind == DAY else 0
    length = WINDOW_SECONDS[kind]
    return max(1, int(length - (now + offset) % length) + 1)


def day_of(now: float) -> str:
    """China's calendar day of `now` (the "today" of "今天第 2 次" and of the daily counters)."""
    return time.strftime("%Y-%m-%d", time.gmtime(now + CHINA_OFFSET_SECONDS))


def debounced(last_alert_at: float | None, now: float) -> bool:
    """True when this customer and material were alerted less than DEBOUNCE_SECONDS ago."""
    return last_alert_at is not None and now - last_alert_at < DEBOUNCE_SECONDS


def view_alert_line(customer_name: str, material_title: str, opens_today: int) -> str:
    """ "客户 X 正在看「Y」, 今天第 N 次"."""
    return f"客户 {customer_name} 正在看「{material_title}」, 今天第 {opens_today} 次"


def lead_alert_line(customer_name: str, material_title: str, phone: str) -> str:
    return f"{customer_name} 在「{material_title}」留下了联系方式 {phone}"


def digest_title(lines: int) -> str:
    return f"{lines} 条客户动态"


def digest_description(lines: list[str]) -> str:
    shown = lines[:DIGEST_MAX_LINES]
    more = len(lines) - len(shown)
    return "\n".join(shown + ([f"…另有 {more} 条"] if more > 0 else []))
