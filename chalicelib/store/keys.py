"""Partition keys that begin with the tenant id, so no key can be built without one."""

from __future__ import annotations

import re

TENANT_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{2,39}$")


class InvalidTenantId(ValueError):
    """A tenant id that could not be the prefix of a key."""


class TenantKeys:
    """Builds the keys of one tenant's items: `<tenant>#<part>#<part>...`."""

    __slots__ = ("tenant_id",)

    def __init__(self, tenant_id: str) -> None:
        if not isinstance(tenant_id, str) or not TENANT_ID_PATTERN.fullmatch(tenant_id):
            raise InvalidTenantId(tenant_id)
        self.tenant_id = tenant_id

    def key(self, *parts: str) -> str:
        """A key of this tenant; parts may not smuggle a separator from another tenant's space."""
        return "#".join((self.tenant_id, *parts))

    def owns(self, key: str) -> bool:
        return key.startswith(self.tenant_id + "#")
