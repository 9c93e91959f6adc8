"""What every part of `CustomerStore` shares: the tenant's keys, the stage's settings and a customer's partition."""

from __future__ import annotations

from chalicelib import resources
from chalicelib.config import Settings
from chalicelib.store.dynamo import BatchWriter
from chalicelib.store.keys import TenantKeys
from chalicelib.store.tables import bind_models, shared_connection

SHARDS = 16
"""Tag-membership partitions per tag (see `relations.shard_of`)."""


class CustomerBase:
    """One tenant's customer data on the data table; every key it builds begins with that tenant's id."""

    def __init__(self, tenant_id: str, settings: Settings | None = None, shards: int = SHARDS) -> None:
        self.keys = TenantKeys(tenant_id)
        self.settings = bind_models(settings)
        self.shards = shards

    def writer(self) -> BatchWriter:
        """A batch writer on this stage's data table (use it as a context manager)."""
        return BatchWriter(shared_connection(self.settings).client, self.settings.table(resources.DATA))

    def _cust(self, external_userid: str) -> str:
        """A customer's partition: profile, relations, card and reach items."""
        return self.keys.key("cust", external_userid)
