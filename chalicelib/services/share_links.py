"""Share links: a signed token per (tenant, material, sharer, campaign) and its short URL, verified from a cache.

A warm process verifies a link without a database or SSM read: the tenant's key ring is cached for
`KEY_RING_TTL_SECONDS`, so a rotation that drops old keys takes effect everywhere within that time. Rings of
tenants that do not exist cache as empty (a token naming one fails) in a bounded cache.
"""

from __future__ import annotations

import time

from chalicelib.config import get_settings
from chalicelib.domain import signed_tokens, view_alerts
from chalicelib.domain.signed_tokens import InvalidToken, KeyRing, ShareClaims
from chalicelib.domain.ttl_cache import TtlCache
from chalicelib.store import share_keys
from chalicelib.store.keys import InvalidTenantId
from chalicelib.store.materials import MaterialStore
from chalicelib.store.tracking import SHARER, TrackingStore, UnknownSubject

KEY_RING_TTL_SECONDS = 60.0
KEY_RING_CACHE_ENTRIES = 2048
_rings: TtlCache[str, KeyRing] = TtlCache(max_entries=KEY_RING_CACHE_ENTRIES)


def share_keys_of(tenant_id: str) -> KeyRing:
    """The tenant's share keys, from the process cache (empty for a tenant without keys or a malformed id)."""

    def load() -> tuple[KeyRing, float]:
        try:
            return share_keys.key_ring(tenant_id), KEY_RING_TTL_SECONDS
        except InvalidTenantId:
            return {}, KEY_RING_TTL_SECONDS

    return _rings.get(tenant_id, load)


def signing_keys(tenant_id: str) -> KeyRing:
    """The tenant's share keys for signing, making its first key if it has none."""
    ring = share_keys_of(tenant_id)
    if not ring:
        ring = share_keys.ensure_key_ring(tenant_id)
        _rings.forget(tenant_id)
    return ring


def share_url(token: str) -> str:
    """Where a share token is opened: `/s/<token>` under the stack's public base URL."""
    return f"{get_settings().public_base_url}/s/{token}"


def create_share(tenant_id: str, material_id: str, sharer: str, campaign: str = "") -> tuple[str, str]:
    """A share token for these claims (making the tenant's first key if needed) and its URL."""
    claims = ShareClaims(tenant_id, material_id, sharer, campaign or "", int(time.time()))
    token = signed_tokens.sign(claims, signing_keys(tenant_id))
    return token, share_url(token)


def share_material(tenant_id: str, material_id: str, sharer: str, campaign: str = "") -> dict[str, str]:
    """Make a share link of one of the tenant's materials and record it (the sharer's list and their day's `shares`
    count); UnknownSubject when the tenant has no such material."""
    if MaterialStore(tenant_id).get(material_id) is None:
        raise UnknownSubject("no such material")
    token, url = create_share(tenant_id, material_id, sharer, campaign)
    now = time.time()
    fields = {"token": token, "url": url, "material_id": material_id, "sharer": sharer, "campaign": campaign}
    store = TrackingStore(tenant_id)
    store.put_share(token.rsplit(".", 1)[1], fields, int(now * 1000))
    store.add_counts(SHARER, sharer, view_alerts.day_of(now), {"shares": 1})
    return fields


def open_share(token: str, now: float) -> ShareClaims:
    """The claims of a genuine, unexpired share token of a tenant that holds its key; InvalidToken otherwise."""
    return signed_tokens.verify_share(token, share_keys_of, now)


def rotate_keys(tenant_id: str, invalidate_old: bool) -> int:
    """Add a new signing key (dropping older ones with `invalidate_old`); the new version. Other warm processes
    see it within `KEY_RING_TTL_SECONDS`."""
    ring = share_keys.rotate(tenant_id, invalidate_old)
    _rings.forget(tenant_id)
    return max(ring)


__all__ = [
    "InvalidToken",
    "create_share",
    "open_share",
    "rotate_keys",
    "share_keys_of",
    "share_material",
    "share_url",
    "signing_keys",
]
