"""Customer group chats kept as WeCom has them: one chat read (groupchat/get) and stored, shared by the group sync and
by `change_external_chat` events, which are applied in member-version order (`domain.group_chats.event_action`):
a del_member event on the stored version is applied as it is, an event already applied is skipped, anything else
(a missed version, added members whose join state only WeCom's read gives, a rename) re-reads the chat."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from chalicelib.domain.group_chats import (
    DailyFigures,
    EventAction,
    GroupChat,
    chat_from_wecom,
    event_action,
    same_view,
)
from chalicelib.services.tenant_context import TenantContext
from chalicelib.store.dynamo import Conflict
from chalicelib.store.groups import ChatWrite, GroupStore
from chalicelib.wecom.errors import WeComError
from chalicelib.wecom.events import ExternalChatEvent

GROUPCHAT_GET_API = "externalcontact/groupchat/get"
CHAT_NOT_FOUND = 40050
WRITE_ATTEMPTS = 3

Fetch = Callable[[str, dict[str, Any]], dict[str, Any]]


def fetch_chat(post: Fetch, chat_id: str, fetched_at: int, inherit_status: int = 0) -> tuple[GroupChat, list] | None:
    """WeCom's current view of a chat (need_name=1, for the member names), stamped with the read's time; None when
    WeCom no longer knows the chat (40050)."""
    try:
        answer = post(GROUPCHAT_GET_API, {"chat_id": chat_id, "need_name": 1})
    except WeComError as error:
        if error.errcode == CHAT_NOT_FOUND:
            return None
        raise
    return chat_from_wecom(answer["group_chat"], fetched_at, inherit_status)


def store_view(
    groups: GroupStore, chat: GroupChat, members: list, stored: GroupChat | None, figures: DailyFigures
) -> ChatWrite:
    """Store a read view unless it changes nothing; a writer that moved the chat meanwhile makes it read the stored
    chat again and retry."""
    for _ in range(WRITE_ATTEMPTS):
        if same_view(stored, chat):
            return ChatWrite(True)
        try:
            return groups.put_chat(chat, members, stored, figures)
        except Conflict:
            stored = groups.get_chat(chat.chat_id)
    raise Conflict(f"chat {chat.chat_id} kept changing")


def apply_chat_event(ctx: TenantContext, event: ExternalChatEvent, now: int | None = None) -> bool:
    """Apply one change_external_chat event; False when it changed nothing (already applied or older). A re-read
    is stamped with `now` (the read's time), so no older event can overwrite it."""
    now = int(time.time()) if now is None else now
    groups: GroupStore = ctx.groups
    figures = DailyFigures()
    stored = groups.get_chat(event.chat_id)
    action = event_action(event.change_type, event.update_detail, event.last_mem_ver, event.cur_mem_ver, stored)
    if action is EventAction.SKIP:
        return False
    if action is EventAction.DISMISS:
        done = groups.dismiss(event.chat_id, event.create_time, figures)
    elif action is EventAction.DROP_MEMBERS and stored is not None:
        try:
            done = groups.drop_members(
                stored, event.mem_change_list, event.cur_mem_ver, event.create_time, figures
            ).written
        except Conflict:
            done = _reread(ctx, event.chat_id, now, figures)
    else:
        done = _reread(ctx, event.chat_id, now, figures)
    groups.add_figures(figures)
    return done


def _reread(ctx: TenantContext, chat_id: str, now: int, figures: DailyFigures) -> bool:
    groups: GroupStore = ctx.groups
    view = fetch_chat(lambda api, body: ctx.wecom.post(api, body, retry_safe=True), chat_id, now)
    if view is None:
        return groups.dismiss(chat_id, now, figures)
    chat, members = view
    stored = groups.get_chat(chat_id)
    if stored is not None:
        chat = _keep_inherit_status(chat, stored)
    write = store_view(groups, chat, members, stored, figures)
    return write.written and write.items > 0


def _keep_inherit_status(chat: GroupChat, stored: GroupChat) -> GroupChat:
    """groupchat/get does not say whether the owner's chats are being inherited; the last list's answer stands."""
    return replace(chat, inherit_status=stored.inherit_status)
