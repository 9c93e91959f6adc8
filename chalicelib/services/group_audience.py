"""A group mass message's chats, from the store: listed chats (with their owners as stored), or the owners' live
chats (owner index Queries) narrowed by join state (on the chat) and by customers joined in a time range (each
candidate's daily figures, a Query per chat); then each chat's receipts (BatchGet) for its receiving quota
(`domain.group_audience.plan_groups`). Used by the planner and the preview, so the preview says exactly which chats
are skipped and why."""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.domain.frequency import FrequencyPolicy
from chalicelib.domain.group_audience import GroupAudience, GroupPlan, plan_groups
from chalicelib.domain.group_chats import LIVE, Scope, local_day
from chalicelib.store.groups import GroupStore

FIRST_DAY, LAST_DAY = "2000-01-01", "9999-12-31"


def audience_chats(groups: GroupStore, audience: GroupAudience, sender: str) -> list[tuple[str, str]]:
    """`(chat_id, owner)` of the audience's live chats; a listed chat the store does not know goes to `sender`."""
    if not audience.is_filter:
        stored = groups.get_chats(audience.chat_ids)
        chosen = []
        for chat_id in audience.chat_ids:
            chat = stored.get(chat_id)
            if chat is None:
                chosen.append((chat_id, sender))
            elif chat.status == LIVE:
                chosen.append((chat_id, chat.owner))
        return chosen
    first = local_day(audience.joined_from) if audience.joined_from is not None else FIRST_DAY
    last = local_day(audience.joined_to) if audience.joined_to is not None else LAST_DAY
    timed = audience.joined_from is not None or audience.joined_to is not None
    chosen = []
    for owner in audience.owners_or(sender):
        for chat in groups.owner_chats(owner):
            if audience.state and audience.state not in chat.states:
                continue
            if timed and not any(joins for _, joins, _ in groups.daily(Scope.CHAT, chat.chat_id, first, last)):
                continue
            chosen.append((chat.chat_id, chat.owner))
    return chosen


def plan_group_audience(
    tenant_id: str,
    audience: GroupAudience,
    sender: str,
    policy: FrequencyPolicy,
    send_at: int,
    broadcast_id: str,
) -> GroupPlan:
    """The batches and skipped chats of a group mass message sent at `send_at`. A bare audience (no chats, no
    filter) of a sender whose chats the store does not know yet is one batch without chat ids: WeCom then sends to
    every group the sender owns."""
    groups = GroupStore(tenant_id)
    chats = audience_chats(groups, audience, sender)
    if not chats and audience == GroupAudience():
        return GroupPlan(((sender, ()),), {})
    receipts = groups.get_receipts(chat_id for chat_id, _ in chats)
    return plan_groups(chats, receipts, policy, datetime.fromtimestamp(send_at, UTC), broadcast_id)


def record_group_receipts(tenant_id: str, broadcast_id: str, send_at: int, plan: GroupPlan) -> None:
    """Note the planned chats' receipt of this message, for the next message's quota."""
    chat_ids = [chat_id for _, chats in plan.batches for chat_id in chats]
    GroupStore(tenant_id).record_receipts(broadcast_id, datetime.fromtimestamp(send_at, UTC), chat_ids)
