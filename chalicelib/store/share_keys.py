"""A tenant's versioned share keys (32 random bytes each), kept with its secrets as one SSM SecureString.

The parameter holds JSON {version: base64 key}. The ring is made on the tenant's first share (a create that does not
overwrite, so two first shares at once agree on one key); a rotation adds the next version, and drops the older ones
only when asked to, which is what invalidates the links signed with them.
"""

from __future__ import annotations

import base64
import json
import secrets

from chalicelib.domain.signed_tokens import KeyRing
from chalicelib.store import secrets as tenant_secrets

PARAMETER = "share_keys"
KEY_BYTES = 32


def key_ring(tenant_id: str) -> dict[int, bytes]:
    """The tenant's share keys by version; empty when it never shared."""
    stored = tenant_secrets.get_parameter(tenant_id, PARAMETER)
    return _decode(stored) if stored else {}


def ensure_key_ring(tenant_id: str) -> dict[int, bytes]:
    """The tenant's share keys, creating version 1 on first use."""
    ring = key_ring(tenant_id)
    if ring:
        return ring
    tenant_secrets.put_parameter(tenant_id, PARAMETER, _encode({1: _new_key()}), overwrite=False)
    return key_ring(tenant_id)


def rotate(tenant_id: str, invalidate_old: bool) -> dict[int, bytes]:
    """Add the next key version (it signs from now on); with `invalidate_old`, drop every older version."""
    ring = key_ring(tenant_id)
    version = max(ring, default=0) + 1
    rotated = {version: _new_key()} if invalidate_old else {**ring, version: _new_key()}
    tenant_secrets.put_parameter(tenant_id, PARAMETER, _encode(rotated), overwrite=True)
    return rotated


def _new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def _encode(ring: KeyRing) -> str:
    return json.dumps({str(v): base64.b64encode(k).decode() for v, k in sorted(ring.items())})


def _decode(stored: str) -> dict[int, bytes]:
    return {int(v): base64.b64decode(k) for v, k in json.loads(stored).items()}
