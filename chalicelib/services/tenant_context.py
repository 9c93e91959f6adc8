"""Acting for one tenant: its WeCom client and its stores, the one way every route, worker and service gets them.

The client reads the tenant's app credentials on first use and again after WeCom's 40001 (a rotated secret), and
shares access tokens with every other Lambda through the runtime table (one `AccessTokens` per process)."""

from __future__ import annotations

import threading
from functools import cached_property
from typing import TYPE_CHECKING

from chalicelib.config import Settings, get_settings
from chalicelib.domain.credentials import AppCredentials
from chalicelib.store.channels import ChannelStore
from chalicelib.store.customers import CustomerStore
from chalicelib.store.event_log import EventLog
from chalicelib.store.groups import GroupStore
from chalicelib.store.tenants import get_app_credentials
from chalicelib.store.tokens import DynamoTokenStore
from chalicelib.store.transfers import TransferStore
from chalicelib.wecom import errors
from chalicelib.wecom.access_token import AccessTokens

if TYPE_CHECKING:
    from chalicelib.wecom.client import WeComClient

_process_tokens: AccessTokens | None = None
_process_tokens_mutex = threading.Lock()


def process_access_tokens(settings: Settings | None = None) -> AccessTokens:
    """The access tokens of this Lambda process, shared with every other through the runtime table."""
    global _process_tokens
    with _process_tokens_mutex:
        if _process_tokens is None:
            _process_tokens = AccessTokens(DynamoTokenStore(settings or get_settings()))
        return _process_tokens


def has_credentials(tenant_id: str) -> bool:
    """Whether the tenant's app credentials are stored (read through the credentials cache)."""
    return get_app_credentials(tenant_id) is not None


def tenant_wecom(tenant_id: str, settings: Settings | None = None) -> WeComClient:
    """A WeCom client acting as the tenant's app; a call raises `AppNotConfigured` when the tenant has none."""
    from chalicelib.wecom.client import WeComClient  # httpx: not in the API's cold start until a route calls WeCom

    settings = settings or get_settings()

    def credentials() -> AppCredentials:
        found = get_app_credentials(tenant_id)
        if found is None:
            raise errors.AppNotConfigured(tenant_id)
        return found

    return WeComClient(credentials, process_access_tokens(settings), settings)


class TenantContext:
    """One tenant's WeCom client and stores for the duration of a unit of work."""

    def __init__(self, tenant_id: str, settings: Settings | None = None) -> None:
        self.tenant_id = tenant_id
        self.settings = settings or get_settings()

    @cached_property
    def wecom(self) -> WeComClient:
        return tenant_wecom(self.tenant_id, self.settings)

    @cached_property
    def customers(self) -> CustomerStore:
        return CustomerStore(self.tenant_id, self.settings)

    @cached_property
    def channels(self) -> ChannelStore:
        return ChannelStore(self.tenant_id, self.settings)

    @cached_property
    def groups(self) -> GroupStore:
        return GroupStore(self.tenant_id, self.settings)

    @cached_property
    def transfers(self) -> TransferStore:
        return TransferStore(self.tenant_id, self.settings)

    @cached_property
    def event_log(self) -> EventLog:
        return EventLog(self.tenant_id, self.settings)
