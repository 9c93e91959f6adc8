"""Customer-acquisition links (获客助手) of one company: the links, who came through them, clicks, and the quota."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from . import ids


@dataclass(slots=True)
class LinkCustomer:
    """A customer who added an employee through a link (`customer_acquisition/customer`)."""

    external_userid: str
    userid: str
    state: str
    added_at: int
    chat_status: int = 0


@dataclass(slots=True)
class AcquisitionLink:
    link_id: str
    name: str
    url: str
    create_time: int
    skip_verify: bool
    users: list[str]
    departments: list[int]
    customers: list[LinkCustomer] = field(default_factory=list)
    clicks: list[int] = field(default_factory=list)
    available: bool = True


class AcquisitionLinks:
    """A company's links (insertion-ordered for paging) and its acquisition quota (one use per new customer)."""

    def __init__(self, rng: random.Random, quota: int, max_links: int, quota_expires_at: int) -> None:
        self._rng = rng
        self.links: dict[str, AcquisitionLink] = {}
        self.total = quota
        self.balance = quota
        self.max_links = max_links
        self.quota_expires_at = quota_expires_at

    def create(
        self, name: str, users: list[str], departments: list[int], skip_verify: bool, now: float
    ) -> AcquisitionLink:
        link_id = "ca" + ids.token(self._rng, 16).lower().replace("-", "a").replace("_", "b")
        link = AcquisitionLink(
            link_id, name, f"https://work.weixin.qq.com/ca/{link_id}", int(now), skip_verify, users, departments
        )
        self.links[link_id] = link
        return link

    def consume(self) -> None:
        """Spend one use for a new customer (never below zero)."""
        self.balance = max(0, self.balance - 1)
