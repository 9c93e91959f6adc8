"""The audience of a group mass message (chat_type `group`), on plain data: which chats, cut into batches per owner
(WeCom sends a group mass message from the chats' owner: `sender` is required and must own every listed chat), with
each chat's own receiving quota and the tenant's quiet rules applied as for a customer (`domain.frequency`).

An audience is either `{"chat_ids": [...]}` (empty: every live chat of the sender), or a filter
`{"owners": [...], "state": ..., "joined_from": ..., "joined_to": ...}`: the live chats of those owners (default:
the sender), that members joined through a join way with this state, and that customers joined between the two
times (epoch seconds, by day in the figures' timezone).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.domain.audience import Receipt, SkipReason
from chalicelib.domain.frequency import FrequencyPolicy, check_frequency
from chalicelib.domain.wecom_ids import CHANNEL_STATE, CHAT_ID, USERID, has_shape
from chalicelib.domain.wecom_limits import GROUPCHAT_OWNER_FILTER_MAX_USERIDS, MSG_TEMPLATE_MAX_CHAT_IDS

FILTER_KEYS = frozenset({"owners", "state", "joined_from", "joined_to"})
MAX_LISTED_CHATS = 50 * MSG_TEMPLATE_MAX_CHAT_IDS


class InvalidGroupAudience(ValueError):
    """An audience a group mass message cannot have; the message names the field."""


@dataclass(frozen=True)
class GroupAudience:
    chat_ids: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()
    state: str = ""
    joined_from: int | None = None
    joined_to: int | None = None

    @property
    def is_filter(self) -> bool:
        return not self.chat_ids

    def as_json(self) -> dict[str, Any]:
        if self.chat_ids:
            return {"chat_ids": list(self.chat_ids)}
        data: dict[str, Any] = {"chat_ids": []}
        if self.owners:
            data["owners"] = list(self.owners)
        if self.state:
            data["state"] = self.state
        if self.joined_from is not None:
            data["joined_from"] = self.joined_from
        if self.joined_to is not None:
            data["joined_to"] = self.joined_to
        return data

    def owners_or(self, sender: str) -> tuple[str, ...]:
        return self.owners or ((sender,) if sender else ())


def group_audience(data: Mapping[str, Any], sender: str) -> GroupAudience:
    """Parse and check a group audience; InvalidGroupAudience naming the field."""
    unknown = set(data) - FILTER_KEYS - {"chat_ids"}
    if unknown:
        raise InvalidGroupAudience(
            "audience: a group broadcast takes chat_ids, or owners, state, joined_from and joined_to; "
            f"not {sorted(unknown)}"
        )
    chat_ids = data.get("chat_ids") or []
    if not isinstance(chat_ids, list) or not all(has_shape(CHAT_ID, c) for c in chat_ids):
        raise InvalidGroupAudience("audience.chat_ids: must be a list of chat ids")
    if len(chat_ids) > MAX_LISTED_CHATS:
        raise InvalidGroupAudience("audience.chat_ids: too many")
    if chat_ids and set(data) & FILTER_KEYS:
        raise InvalidGroupAudience("audience: give chat_ids or a filter (owners, state, joined_from/to), not both")
    owners = data.get("owners") or []
    if not isinstance(owners, list) or not all(has_shape(USERID, o) for o in owners):
        raise InvalidGroupAudience("audience.owners: must be a list of userids")
    if len(owners) > GROUPCHAT_OWNER_FILTER_MAX_USERIDS:
        raise InvalidGroupAudience(f"audience.owners: at most {GROUPCHAT_OWNER_FILTER_MAX_USERIDS}")
    if owners and sender and sender not in owners:
        raise InvalidGroupAudience("sender: must be one of audience.owners")
    state = data.get("state") or ""
    if state and not has_shape(CHANNEL_STATE, state):
        raise InvalidGroupAudience("audience.state: not a channel state")
    bounds = []
    for key in ("joined_from", "joined_to"):
        value = data.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise InvalidGroupAudience(f"audience.{key}: must be epoch seconds")
        bounds.append(value)
    if bounds[0] is not None and bounds[1] is not None and bounds[0] > bounds[1]:
        raise InvalidGroupAudience("audience.joined_from: after joined_to")
    return GroupAudience(tuple(dict.fromkeys(chat_ids)), tuple(dict.fromkeys(owners)), state, bounds[0], bounds[1])


@dataclass(frozen=True)
class GroupPlan:
    """Batches `(owner, chat ids)` of at most MSG_TEMPLATE_MAX_CHAT_IDS, in owner order, and skipped chats."""

    batches: tuple[tuple[str, tuple[str, ...]], ...]
    skipped: Mapping[str, int]

    @property
    def recipients(self) -> int:
        return sum(len(chats) for _, chats in self.batches)

    @property
    def senders(self) -> int:
        return len({owner for owner, _ in self.batches})


def plan_groups(
    chats: Iterable[tuple[str, str]],
    receipts: Mapping[str, Iterable[Receipt]],
    policy: FrequencyPolicy,
    send_at: datetime,
    broadcast_id: str,
) -> GroupPlan:
    """Cut `(chat_id, owner)` pairs into per-owner batches, skipping each chat whose receipts forbid this message."""
    by_owner: dict[str, list[str]] = {}
    skipped: Counter[str] = Counter()
    for chat_id, owner in dict.fromkeys(chats):
        reason: SkipReason | None = check_frequency(policy, receipts.get(chat_id, ()), send_at, broadcast_id)
        if reason is not None:
            skipped[reason.value] += 1
            continue
        by_owner.setdefault(owner, []).append(chat_id)
    batches = tuple(
        (owner, tuple(chat_ids[i : i + MSG_TEMPLATE_MAX_CHAT_IDS]))
        for owner in sorted(by_owner)
        for chat_ids in (by_owner[owner],)
        for i in range(0, len(chat_ids), MSG_TEMPLATE_MAX_CHAT_IDS)
    )
    return GroupPlan(batches, dict(skipped))
