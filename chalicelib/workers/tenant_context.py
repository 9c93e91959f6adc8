"""What a worker needs to act for one tenant: its WeCom client and its repositories, each opened on first use."""

from __future__ import annotations

from functools import cached_property

from chalicelib.config import Settings, get_settings
from chalicelib.store.channels import ChannelStore
from chalicelib.store.customers import CustomerStore
from chalicelib.store.event_log import EventLog
from chalicelib.store.groups import GroupStore
from chalicelib.store.tenants import get_app_credentials
from chalicelib.store.tokens import process_access_tokens
from chalicelib.store.transfers import TransferStore
from chalicelib.wecom.client import WeComClient
from chalicelib.wecom.credentials import AppCredentials


class NoCredentials(Exception):
    """The tenant has no app credentials (unknown tenant, or its secret was never stored)."""


class TenantContext:
    """One tenant's WeCom client and stores for the duration of a unit of work."""

    def __init__(self, tenant_id: str, settings: Settings | None = None) -> None:
        self.tenant_id = tenant_id
        self.settings = settings or get_settings()

    def _credentials(self) -> AppCredentials:
        credentials = get_app_credentials(self.tenant_id)
        if credentials is None:
            raise NoCredentials(self.tenant_id)
        return credentials

    @cached_property
    def wecom(self) -> WeComClient:
        return WeComClient(self._credentials, process_access_tokens(self.settings), self.settings)

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
