"""Who may open the sales view of a customer, decided on plain data, and the cookies that remember the employee.

An employee is named by WeCom's web OAuth and then carries a signed session cookie for the tenant (8 hours, path
`/sales/`); its OAuth round trip is bound to the browser that started it (`services.oauth_nonces`). An employee
sees a customer when they follow the customer in the tenant's data or are the sharer the link was made for; to
anyone else the page does not exist.
"""

from __future__ import annotations

from collections.abc import Iterable

SESSION_COOKIE_PREFIX = "qr_sales_"
NONCE_COOKIE = "qr_sales_oauth"


def session_cookie(tenant_id: str) -> str:
    """The session cookie's name: one per tenant, so an employee of two tenants keeps both."""
    return SESSION_COOKIE_PREFIX + tenant_id.replace("-", "_")


def may_see(userid: str, sharer: str, followers: Iterable[str]) -> bool:
    """Whether the employee may see the customer: a follower of theirs, or the sharer the link was made for."""
    return bool(userid) and (userid == sharer or userid in set(followers))
