"""The links alert cards carry to the sales view: `/sales/customers/<token>`, the token signed with the tenant's
share keys and naming the tenant, the customer and the employee the alert went to. The page learns from it which
tenant it serves without a database read, and any bad link (forged, altered, expired, another tenant's key) reads
as no link at all. A link naming no customer (`home_url`, for digests and anonymous leads) opens the employee's own
list of customers who viewed their shares."""

from __future__ import annotations

import time

from chalicelib.config import get_settings
from chalicelib.domain import signed_tokens
from chalicelib.domain.signed_tokens import InvalidToken, SalesLinkClaims
from chalicelib.services import share_links

PAGE_PREFIX = "/sales/customers/"


def home_url(tenant_id: str, sharer: str) -> str:
    """The employee's own page (customers who viewed their shares, their anonymous leads), for `sharer`."""
    return customer_url(tenant_id, "", sharer)


def customer_url(tenant_id: str, customer: str, sharer: str) -> str:
    """The sales view of `customer` (no customer: the employee's own page), for the employee `sharer`, under the
    stack's public base URL."""
    claims = SalesLinkClaims(tenant_id, customer, sharer, int(time.time()))
    token = signed_tokens.sign(claims, share_links.signing_keys(tenant_id))
    return f"{get_settings().public_base_url}{PAGE_PREFIX}{token}"


def open_link(token: str, now: float) -> SalesLinkClaims | None:
    """The claims of a genuine, unexpired link of a tenant that holds its key; None otherwise."""
    try:
        return signed_tokens.verify(token, SalesLinkClaims, share_links.share_keys_of, now)
    except InvalidToken:
        return None
