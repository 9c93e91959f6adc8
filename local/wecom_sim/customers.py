"""The customer book: customers and their follow relations, indexed by customer and by employee."""

from __future__ import annotations

from .models import Customer, Follow


class CustomerBook:
    """Customers and follow relations; insertion order gives stable paging."""

    def __init__(self) -> None:
        self.customers: dict[str, Customer] = {}
        self.by_customer: dict[str, dict[str, Follow]] = {}
        self.by_user: dict[str, dict[str, Follow]] = {}
        self._unionids: set[str] = set()

    def add_customer(self, customer: Customer) -> None:
        self.customers[customer.external_userid] = customer
        if customer.unionid:
            self._unionids.add(customer.unionid)
        self.by_customer.setdefault(customer.external_userid, {})

    def add_follow(self, follow: Follow) -> None:
        """Create (or replace) the relation between ``follow.userid`` and ``follow.external_userid``."""
        self.by_customer.setdefault(follow.external_userid, {})[follow.userid] = follow
        self.by_user.setdefault(follow.userid, {})[follow.external_userid] = follow

    def remove_follow(self, userid: str, external_userid: str) -> Follow | None:
        """Delete a relation (the employee deleted the customer, or a transfer moved it)."""
        follow = self.by_customer.get(external_userid, {}).pop(userid, None)
        self.by_user.get(userid, {}).pop(external_userid, None)
        return follow

    def unionid_known(self, unionid: str) -> bool:
        """Whether a customer of the book has this unionid (WeChat's shared-page identity matches on it)."""
        return unionid in self._unionids

    def follow(self, userid: str, external_userid: str) -> Follow | None:
        return self.by_customer.get(external_userid, {}).get(userid)

    def follows_of_customer(self, external_userid: str) -> list[Follow]:
        return list(self.by_customer.get(external_userid, {}).values())

    def follows_of_user(self, userid: str) -> list[Follow]:
        return list(self.by_user.get(userid, {}).values())

    def is_friend(self, userid: str, external_userid: str) -> bool:
        """Both sides still hold the relation (a customer who deleted the employee is not reachable)."""
        follow = self.follow(userid, external_userid)
        return follow is not None and not follow.deleted_by_customer

    def latest_follower(self, external_userid: str, active: set[str]) -> str | None:
        """The active employee who added the customer last: WeCom pushes mass tasks to the last one in touch."""
        best: Follow | None = None
        for follow in self.by_customer.get(external_userid, {}).values():
            reachable = follow.userid in active and not follow.deleted_by_customer
            if reachable and (best is None or follow.createtime >= best.createtime):
                best = follow
        return None if best is None else best.userid
