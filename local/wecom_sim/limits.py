"""API frequency limits (45009) per corp and per calling IP, and the per-corp per-API concurrency cap (45033)."""

from __future__ import annotations

from . import errors
from .config import SimConfig
from .windows import MinuteHourLimit

UNMETERED = frozenset({"message/send"})


class ApiLimits:
    """WeCom's base frequency rules: per (corp, API) and per (IP, API) minute and hour caps; app messages excluded."""

    def __init__(self, config: SimConfig) -> None:
        self._corp = MinuteHourLimit(config.corp_api_per_minute, config.corp_api_per_hour)
        self._ip = MinuteHourLimit(config.ip_api_per_minute, config.ip_api_per_hour)
        self._cap = config.concurrency_cap
        self._in_flight: dict[tuple[str, str], int] = {}

    def admit(self, corpid: str, api: str, ip: str, now: float) -> int:
        """0 when the call may proceed, 45009 when a window is exhausted."""
        if api in UNMETERED:
            return errors.OK
        if not self._ip.admit((ip, api), now) or not self._corp.admit((corpid, api), now):
            return errors.FREQUENCY_LIMIT
        return errors.OK

    def enter(self, corpid: str, api: str) -> bool:
        """Take a concurrency slot for (corp, API); False means 45033."""
        key = (corpid, api)
        current = self._in_flight.get(key, 0)
        if current >= self._cap:
            return False
        self._in_flight[key] = current + 1
        return True

    def leave(self, corpid: str, api: str) -> None:
        key = (corpid, api)
        self._in_flight[key] -= 1
