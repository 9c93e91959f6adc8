"""What each WeCom event does to a tenant's data: the one place that routes an event kind to the service applying it.
The events worker claims, applies and records; kinds the product does not apply raise `NotApplied` and are recorded
with the reason, never dropped silently."""

from __future__ import annotations

from chalicelib.services import relations, transfers
from chalicelib.services.acquisition_links import apply_acquisition_event
from chalicelib.services.group_chats import apply_chat_event
from chalicelib.services.tag_catalogue import apply_tag_event
from chalicelib.services.tenant_context import TenantContext
from chalicelib.services.welcome import channel_of, store_new_friend
from chalicelib.wecom.events import (
    NEW_FRIEND_CHANGE_TYPES,
    ContactEvent,
    CustomerAcquisitionEvent,
    ExternalChatEvent,
    ExternalContactEvent,
    ExternalTagEvent,
    WeComEvent,
)


class NotApplied(Exception):
    """The product does not apply this event; it is recorded with the reason instead."""


def apply_event(ctx: TenantContext, event: WeComEvent) -> None:
    """Apply one claimed event (its welcome, if any, already sent); NotApplied for kinds the product leaves alone."""
    if isinstance(event, ExternalContactEvent):
        change = event.change_type
        if change in NEW_FRIEND_CHANGE_TYPES:
            store_new_friend(ctx, event, channel_of(ctx, event.state))
        elif change == "edit_external_contact":
            relations.refresh_relation(ctx, event)
        elif change == "del_external_contact":
            relations.mark_lost(ctx, event)
        elif change == "del_follow_user":
            relations.mark_lost(ctx, event)
            relations.alert_lost_customer(ctx, event)
        elif change == "transfer_fail":
            raise NotApplied(f"transfer_fail: {event.fail_reason or 'no reason given'}")
        else:
            raise NotApplied(f"{event.kind} is not applied")
    elif isinstance(event, ExternalTagEvent):
        apply_tag_event(ctx, event)
    elif isinstance(event, ExternalChatEvent):
        apply_chat_event(ctx, event)
    elif isinstance(event, CustomerAcquisitionEvent):
        apply_acquisition_event(ctx, event)
    elif isinstance(event, ContactEvent) and event.change_type == "delete_user":
        transfers.employee_left(ctx, event.user_id, event.create_time)
    else:
        raise NotApplied(f"{event.kind} is not applied")
