"""Acting for one tenant: its WeCom client (`services.tenant_wecom`) and its stores, opened on first use."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from chalicelib.config import Settings, get_settings
from chalicelib.services.tenant_wecom import tenant_wecom
from chalicelib.store.acquisition_links import AcquisitionLinkStore
from chalicelib.store.channels import ChannelStore
from chalicelib.store.customers import CustomerStore
from chalicelib.store.event_log import EventLog
from chalicelib.store.groups import GroupStore
from chalicelib.store.transfers import TransferStore

if TYPE_CHECKING:
    from chalicelib.wecom.client import WeComClient


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
    def acquisition_links(self) -> AcquisitionLinkStore:
        return AcquisitionLinkStore(self.tenant_id, self.settings)

    @cached_property
    def groups(self) -> GroupStore:
        return GroupStore(self.tenant_id, self.settings)

    @cached_property
    def transfers(self) -> TransferStore:
        return TransferStore(self.tenant_id, self.settings)

    @cached_property
    def event_log(self) -> EventLog:
        return EventLog(self.tenant_id, self.settings)
