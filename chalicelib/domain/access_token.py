"""A WeCom access token as a plain value: when it stops working and when it is due for a refresh."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class AccessToken:
    """A token and its lifetime in epoch seconds; the value never shows in a repr."""

    value: str = field(repr=False)
    issued_at: float
    expires_at: float

    def usable(self, now: float) -> bool:
        return now < self.expires_at

    def fresh(self, now: float, margin: float) -> bool:
        """Valid beyond the refresh margin (at most a quarter of its lifetime, for short-lived tokens)."""
        return now < self.expires_at - min(margin, (self.expires_at - self.issued_at) / 4)
