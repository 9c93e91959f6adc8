"""App messages to employees: at most 30 per member per minute and 1000 per hour; the excess is dropped silently."""

from __future__ import annotations

from .config import SimConfig
from .windows import MinuteHourLimit


class AppMessageCaps:
    """Delivery decisions for app messages, per member."""

    def __init__(self, config: SimConfig) -> None:
        self._limit = MinuteHourLimit(config.app_msg_per_member_minute, config.app_msg_per_member_hour)

    def deliver(self, userid: str, now: float) -> bool:
        """True if the member receives the message, False if WeCom drops it without telling the caller."""
        return self._limit.admit(userid, now)
