"""change_external_chat: keep customer group chats and their members as WeCom has them (groupchat/get)."""

from __future__ import annotations

from chalicelib.services.tenant_context import TenantContext
from chalicelib.store.groups import chat_from_wecom
from chalicelib.wecom.events import ExternalChatEvent

GROUPCHAT_GET_API = "externalcontact/groupchat/get"


def apply_chat_event(ctx: TenantContext, event: ExternalChatEvent) -> bool:
    """Create/update re-read the chat; dismiss marks it dismissed. False when a newer event's view is stored."""
    if event.change_type == "dismiss":
        return ctx.groups.dismiss(event.chat_id, event.create_time)
    answer = ctx.wecom.post(GROUPCHAT_GET_API, {"chat_id": event.chat_id, "need_name": 0}, retry_safe=True)
    chat, members = chat_from_wecom(answer["group_chat"], event.create_time)
    return ctx.groups.put_chat(chat, members)
