"""What every part of `BroadcastStore` shares: the tenant's keys, the stage's settings and a broadcast's partition."""

from __future__ import annotations

from chalicelib.config import Settings
from chalicelib.store.keys import TenantKeys
from chalicelib.store.tables import bind_models


class BroadcastBase:
    """One tenant's mass messages on the data table; every key it builds begins with that tenant's id."""

    def __init__(self, tenant_id: str, settings: Settings | None = None) -> None:
        self.keys = TenantKeys(tenant_id)
        self.tenant_id = tenant_id
        self.settings = bind_models(settings)

    def _pk(self, broadcast_id: str) -> str:
        """A broadcast's partition: the broadcast, its batches, parts and results."""
        return self.keys.key("bc", broadcast_id)
