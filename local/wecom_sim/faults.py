"""Injected faults: a seeded share of -1 answers, added latency, and responses lost after the change was made."""

from __future__ import annotations

from dataclasses import dataclass

from .config import SimConfig
from .rand import unit

NONE, BUSY, LOST = "none", "busy", "lost"


@dataclass(frozen=True)
class FaultPlan:
    """What happens to one call."""

    kind: str
    latency_real_seconds: float


class Faults:
    """Deterministic per (corp, API, n-th call): reruns with the same seed and call order fail the same calls."""

    def __init__(self, config: SimConfig) -> None:
        self._config = config
        self._counts: dict[tuple[str, str], int] = {}

    @property
    def hold_real_seconds(self) -> float:
        """How long a lost response keeps the connection open before it is cut."""
        return self._config.fault_lost_hold_real_seconds

    def applies(self, api: str) -> bool:
        paths = self._config.fault_paths
        return api != "gettoken" if paths is None else api in paths

    def plan(self, corpid: str, api: str) -> FaultPlan:
        config = self._config
        latency = config.fault_latency_real_ms / 1000.0
        if not self.applies(api):
            return FaultPlan(NONE, 0.0)
        n = self._counts.get((corpid, api), 0)
        self._counts[(corpid, api)] = n + 1
        draw = unit(config.seed, corpid, api, n)
        if draw < config.fault_error_share:
            return FaultPlan(BUSY, latency)
        if draw < config.fault_error_share + config.fault_lost_share:
            return FaultPlan(LOST, latency)
        return FaultPlan(NONE, latency)
