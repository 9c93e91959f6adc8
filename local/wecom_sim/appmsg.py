"""App messages to employees: at most 30 per member per minute and 1000 per hour, and per app at most the account
limit × 200 recipient-sends a day (path/90236); the excess is dropped silently."""

from __future__ import annotations

from .config import SimConfig
from .windows import DAY, MinuteHourLimit, WindowCounter

APP = "app"


class AppMessageCaps:
    """Delivery decisions for app messages, per member and for the app's daily recipient budget."""

    def __init__(self, config: SimConfig, seats: int) -> None:
        self._limit = MinuteHourLimit(config.app_msg_per_member_minute, config.app_msg_per_member_hour)
        daily = config.app_msg_per_app_day or seats * config.app_msg_per_seat_day
        self._daily = WindowCounter(DAY, daily)
        self._last_sent: dict[tuple[str, str], float] = {}

    def duplicate(self, userid: str, content: str, now: float, interval: float) -> bool:
        """With enable_duplicate_check: True when the same content reached this member within `interval` seconds
        (WeCom then does not send it again); otherwise the content is remembered as sent now."""
        last = self._last_sent.get((userid, content))
        if last is not None and now - last < interval:
            return True
        self._last_sent[(userid, content)] = now
        return False

    def deliver(self, userid: str, now: float) -> bool:
        """True if the member receives the message, False if WeCom drops it without telling the caller."""
        if self._daily.would_exceed(APP, now) or not self._limit.admit(userid, now):
            return False
        self._daily.add(APP, now)
        return True
