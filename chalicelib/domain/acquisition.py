"""Customer-acquisition links (获客助手) as plain values: a link, its campaigns, their figures, and what a
`customer_acquisition` event means for the tenant.

A campaign is one `customer_channel` value appended to the link's URL. WeCom hands it back as the new friend's
`state`, so each campaign is stored as a channel (its State reserved like a 「联系我」 code's) and a new friend through
it gets the campaign's welcome and auto-tags, and is counted, by the very path a channel's friend takes. Every link
has a default campaign (named "") so that no friend it brings arrives without a State.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

DAY = 86_400
RETENTION_DAYS = (7, 30)
AVAILABLE, UNAVAILABLE = "available", "unavailable"

QUOTA_EVENTS = frozenset({"balance_low", "balance_exhausted", "balance_increased", "quota_expire_soon"})
LINK_EVENTS = frozenset({"link_unavailable", "delete_link", "customer_start_chat"})
ALERTED_EVENTS = frozenset({"balance_low", "balance_exhausted", "quota_expire_soon", "link_unavailable"})

_ALERT_TEXT = {
    "balance_low": "获客助手提醒：获客使用量已不足 20 次，请及时购买。",
    "balance_exhausted": "获客助手提醒：获客使用量已用完，获客链接将无法添加新客户。",
    "quota_expire_soon": "获客助手提醒：部分获客使用量即将过期。",
    "link_unavailable": "获客助手提醒：获客链接「{name}」已失效，请检查链接的使用成员。",
}


@dataclass(frozen=True)
class AcquisitionLink:
    """A link as WeCom knows it (id, URL, employees, verification) and what we learnt of it from events."""

    link_id: str
    name: str
    url: str
    userids: tuple[str, ...] = ()
    department_ids: tuple[int, ...] = ()
    skip_verify: bool = True
    status: str = AVAILABLE
    created_at: int = 0
    updated_at: int = 0
    last_event: str = ""
    last_event_at: int = 0
    chats_started: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "link_id": self.link_id,
            "name": self.name,
            "url": self.url,
            "userids": list(self.userids),
            "department_ids": list(self.department_ids),
            "skip_verify": self.skip_verify,
            "status": self.status,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "last_event": self.last_event,
            "last_event_at": self.last_event_at,
            "chats_started": self.chats_started,
        }


def campaign_url(url: str, state: str) -> str:
    """The link's URL with the campaign's `customer_channel` (WeCom returns it as the friend's `state`)."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}customer_channel={quote(state, safe='')}"


def campaign_channel_id(link_id: str, state: str) -> str:
    """The id of the channel that stands for one campaign of a link."""
    return f"{link_id}~{state}"


@dataclass(frozen=True)
class Retention:
    """Friends added at least `days` ago, and how many of them were still friends `days` after they were added."""

    days: int
    eligible: int
    still_friends: int

    def as_dict(self) -> dict[str, int]:
        return {"days": self.days, "eligible": self.eligible, "still_friends": self.still_friends}


def retention(friends: Iterable[tuple[int, int | None]], days: int, now: int) -> Retention:
    """From (added_at, lost_at or None) pairs: who had been a friend for `days` days, and who stayed that long."""
    eligible = still = 0
    for added_at, lost_at in friends:
        if added_at > now - days * DAY:
            continue
        eligible += 1
        if lost_at is None or lost_at - added_at >= days * DAY:
            still += 1
    return Retention(days, eligible, still)


def alert_text(change_type: str, link_name: str = "") -> str | None:
    """The app message a `customer_acquisition` event sends the tenant's alert recipients; None when not alerted."""
    template = _ALERT_TEXT.get(change_type)
    return template.format(name=link_name or "未知链接") if template else None
