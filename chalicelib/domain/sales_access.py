"""Who may open the sales view of a customer, decided on plain data, and the cookies that remember the employee.

An employee is named by WeCom's web OAuth and then carries a signed session cookie for the tenant (8 hours, path
`/sales/`). The OAuth round trip is bound to the browser that started it: the `state` sent to WeCom is a fresh nonce,
and the same nonce travels in a signed, short-lived cookie; a return whose state is not that browser's nonce is
refused, so a code obtained elsewhere cannot be planted in someone's browser (login CSRF). An employee sees a customer
when they follow the customer in the tenant's data or are the sharer the link was made for; to anyone else the page
does not exist.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable

SESSION_COOKIE_PREFIX = "qr_sales_"
NONCE_COOKIE = "qr_sales_oauth"
NONCE_BYTES = 16


def session_cookie(tenant_id: str) -> str:
    """The session cookie's name: one per tenant, so an employee of two tenants keeps both."""
    return SESSION_COOKIE_PREFIX + tenant_id.replace("-", "_")


def new_nonce() -> str:
    """A fresh OAuth `state`: hex, which fits WeCom's letters-and-digits rule."""
    return secrets.token_hex(NONCE_BYTES)


def nonce_matches(kept: str, returned: str) -> bool:
    """Whether the `state` WeCom returned is the nonce this browser kept (constant time)."""
    return bool(kept) and hmac.compare_digest(kept.encode(), returned.encode())


def may_see(userid: str, sharer: str, followers: Iterable[str]) -> bool:
    """Whether the employee may see the customer: a follower of theirs, or the sharer the link was made for."""
    return bool(userid) and (userid == sharer or userid in set(followers))
