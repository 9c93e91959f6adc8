"""SimConfig: every knob of the simulator in one dataclass, defaulting to WeCom's documented figures."""

from __future__ import annotations

from dataclasses import dataclass

QUOTA_RULES = ("days_in_month", "week_7", "day_1", "legacy_month_4")


@dataclass(frozen=True)
class SimConfig:
    """Behaviour of a Simulator. Times are simulated seconds unless the name says ``real``."""

    seed: int = 1
    clock_factor: float = 1.0
    clock_start: float | None = None
    token_ttl: float = 7200.0
    corp_api_per_minute: int = 10_000
    corp_api_per_hour: int = 150_000
    ip_api_per_minute: int = 20_000
    ip_api_per_hour: int = 600_000
    concurrency_cap: int = 10
    fault_error_share: float = 0.0
    fault_latency_real_ms: float = 0.0
    fault_lost_share: float = 0.0
    fault_lost_hold_real_seconds: float = 0.0
    fault_paths: frozenset[str] | None = None
    confirm_delay: float = 60.0
    never_confirm_share: float = 0.0
    dispatch_seconds: float = 2.0
    quota_rule: str = "days_in_month"
    transfer_delay: float = 86_400.0
    transfer_refuse_share: float = 0.1
    welcome_code_ttl: float = 20.0
    join_way_room_full: int = 200
    app_msg_per_member_minute: int = 30
    app_msg_per_member_hour: int = 1000
    app_msg_per_seat_day: int = 200
    app_msg_per_app_day: int | None = None
    callback_timeout_real_seconds: float = 5.0
    callback_retries: int = 3
    callback_workers: int = 16
    acquisition_quota: int = 1000
    acquisition_links_max: int = 10_000
    moment_creates_per_minute: int = 10
    moments_per_month: int = 100_000
    moment_like_share: float = 0.3
    moment_comment_share: float = 0.15

    def __post_init__(self) -> None:
        if self.quota_rule not in QUOTA_RULES:
            raise ValueError(f"quota_rule must be one of {QUOTA_RULES}")
        if self.clock_factor <= 0:
            raise ValueError("clock_factor must be positive")
