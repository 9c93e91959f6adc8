"""Customer group chats on plain data: a chat and its members as WeCom gives them (groupchat/get), what a new view
changes (who joined, who quit), the daily figures those changes add to, and what a `change_external_chat` event
asks of the store.

Member versions: every change of a chat's members gives it a new `member_version`, and the event says which version
it starts from (`LastMemVer`) and which it makes (`CurMemVer`). Events may arrive late, twice or out of order, so an
event is applied only on the version it starts from; when the stored version is another one, an event was missed
(or this one is old) and the chat is re-read from WeCom instead, which is always right.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

LIVE, DISMISSED = "live", "dismissed"
INHERIT_STATUSES = {0: "normal", 1: "waiting", 2: "inheriting", 3: "inherited"}
"""groupchat/list's `status`: 0 normal, 1 owner departed and waiting for inheritance, 2 being inherited, 3 done."""
EMPLOYEE, CUSTOMER = 1, 2
JOIN_SCENES = {1: "invited", 2: "link", 3: "qr_code"}
FIGURES_TIMEZONE = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class ChatMember:
    """One member: an employee (type 1) or an external contact (type 2), how and when they joined."""

    userid: str
    type: int
    join_time: int = 0
    join_scene: int = 0
    invitor: str = ""
    state: str = ""
    name: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "userid": self.userid,
            "type": "employee" if self.type == EMPLOYEE else "customer",
            "join_time": self.join_time,
            "join_scene": JOIN_SCENES.get(self.join_scene, str(self.join_scene)),
            "invitor": self.invitor or None,
            "state": self.state or None,
            "name": self.name or None,
        }


@dataclass(frozen=True)
class GroupChat:
    """A chat's profile; `event_time` is when WeCom's view of it was taken (an event's time or a read's)."""

    chat_id: str
    event_time: int
    name: str = ""
    owner: str = ""
    notice: str = ""
    create_time: int = 0
    member_version: str = ""
    status: str = LIVE
    member_count: int = 0
    inherit_status: int = 0
    states: frozenset[str] = frozenset()

    def as_dict(self) -> dict[str, Any]:
        return {
            "chat_id": self.chat_id,
            "name": self.name,
            "owner": self.owner,
            "notice": self.notice,
            "create_time": self.create_time,
            "status": self.status,
            "inherit_status": INHERIT_STATUSES.get(self.inherit_status, str(self.inherit_status)),
            "member_count": self.member_count,
            "states": sorted(self.states),
        }


def chat_from_wecom(
    group_chat: Mapping[str, Any], event_time: int, inherit_status: int = 0
) -> tuple[GroupChat, list[ChatMember]]:
    """A groupchat/get answer's `group_chat` as our values."""
    members = [
        ChatMember(
            userid=str(m["userid"]),
            type=int(m.get("type") or 0),
            join_time=int(m.get("join_time") or 0),
            join_scene=int(m.get("join_scene") or 0),
            invitor=str((m.get("invitor") or {}).get("userid") or ""),
            state=str(m.get("state") or ""),
            name=str(m.get("group_nickname") or m.get("name") or ""),
        )
        for m in group_chat.get("member_list") or ()
    ]
    chat = GroupChat(
        chat_id=str(group_chat["chat_id"]),
        event_time=event_time,
        name=str(group_chat.get("name") or ""),
        owner=str(group_chat.get("owner") or ""),
        notice=str(group_chat.get("notice") or ""),
        create_time=int(group_chat.get("create_time") or 0),
        member_version=str(group_chat.get("member_version") or ""),
        member_count=len(members),
        inherit_status=inherit_status,
        states=frozenset(m.state for m in members if m.state),
    )
    return chat, members


def same_view(stored: GroupChat | None, fresh: GroupChat) -> bool:
    """Whether a fresh read changes nothing stored (same members version and profile): nothing to write."""
    if stored is None or stored.status != LIVE:
        return False
    keep = ("name", "owner", "notice", "member_version", "member_count", "inherit_status", "states")
    return all(getattr(stored, name) == getattr(fresh, name) for name in keep)


@dataclass(frozen=True)
class MemberChanges:
    """Who a new view adds, drops or changes, compared with the stored members."""

    joined: tuple[ChatMember, ...] = ()
    quit: tuple[ChatMember, ...] = ()
    changed: tuple[ChatMember, ...] = ()

    @property
    def writes(self) -> tuple[ChatMember, ...]:
        return self.joined + self.changed


def member_changes(stored: Iterable[ChatMember], fresh: Iterable[ChatMember]) -> MemberChanges:
    before = {m.userid: m for m in stored}
    after = {m.userid: m for m in fresh}
    return MemberChanges(
        joined=tuple(m for u, m in after.items() if u not in before),
        quit=tuple(m for u, m in before.items() if u not in after),
        changed=tuple(m for u, m in after.items() if u in before and before[u] != m),
    )


def local_day(timestamp: int) -> str:
    """The natural day (Asia/Shanghai, as WeCom's figures) of a Unix time, `YYYY-MM-DD`."""
    return datetime.fromtimestamp(timestamp, UTC).astimezone(FIGURES_TIMEZONE).date().isoformat()


class Scope(StrEnum):
    """What a daily figure is counted for."""

    CHAT = "chat"
    OWNER = "owner"
    STATE = "state"


@dataclass
class DailyFigures:
    """Joins and quits per (scope, key, day), added up before they are written (one update per cell)."""

    joins: Counter[tuple[Scope, str, str]] = field(default_factory=Counter)
    quits: Counter[tuple[Scope, str, str]] = field(default_factory=Counter)

    def count(self, chat: GroupChat, changes: MemberChanges, quit_time: int) -> None:
        """Joins on the day each member joined, quits on the day the change was seen; customers only."""
        for member in changes.joined:
            if member.type == CUSTOMER:
                self._add(self.joins, chat, member, local_day(member.join_time or quit_time))
        for member in changes.quit:
            if member.type == CUSTOMER:
                self._add(self.quits, chat, member, local_day(quit_time))

    @staticmethod
    def _add(counter: Counter[tuple[Scope, str, str]], chat: GroupChat, member: ChatMember, day: str) -> None:
        counter[(Scope.CHAT, chat.chat_id, day)] += 1
        if chat.owner:
            counter[(Scope.OWNER, chat.owner, day)] += 1
        if member.state:
            counter[(Scope.STATE, member.state, day)] += 1

    def cells(self) -> list[tuple[Scope, str, str, int, int]]:
        keys = sorted(set(self.joins) | set(self.quits))
        return [(s, k, d, self.joins[(s, k, d)], self.quits[(s, k, d)]) for s, k, d in keys]

    def clear(self) -> None:
        self.joins.clear()
        self.quits.clear()


class EventAction(StrEnum):
    """What a change_external_chat event asks of the store."""

    SKIP = "skip"
    """Already applied: the stored members are at the version the event makes (or the chat is dismissed)."""
    DROP_MEMBERS = "drop_members"
    """Starts from the stored version and only removes members: applied without asking WeCom."""
    REREAD = "reread"
    """Anything else (a new chat, added members whose join state only groupchat/get gives, a missed version,
    another change): read the chat again."""
    DISMISS = "dismiss"


def event_action(
    change_type: str, update_detail: str, last_mem_ver: str, cur_mem_ver: str, stored: GroupChat | None
) -> EventAction:
    """The action for one event given the stored chat (None when unknown)."""
    if change_type == "dismiss":
        return EventAction.DISMISS
    if change_type != "update" or update_detail not in ("add_member", "del_member") or stored is None:
        return EventAction.REREAD
    if stored.status != LIVE:
        return EventAction.SKIP
    if cur_mem_ver and stored.member_version == cur_mem_ver:
        return EventAction.SKIP
    if update_detail == "del_member" and last_mem_ver and stored.member_version == last_mem_ver:
        return EventAction.DROP_MEMBERS
    return EventAction.REREAD


def sum_days(rows: Iterable[tuple[str, int, int]]) -> dict[str, int]:
    """Totals of (day, joins, quits) rows."""
    joins = quits = 0
    for _, j, q in rows:
        joins += j
        quits += q
    return {"joins": joins, "quits": quits, "net": joins - quits}


@dataclass(frozen=True)
class GroupSyncCursor:
    """Where a group sync is: the last owner whose chats were read completely, the owners being read (at most 100,
    one groupchat/list owner filter), WeCom's cursor of the list page being read and how many of its chats are done.
    Travels in the continuation message; resuming lists that page again and skips the chats done."""

    after: str = ""
    chunk: tuple[str, ...] = ()
    wecom_cursor: str = ""
    done: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"after": self.after, "chunk": list(self.chunk), "wecom_cursor": self.wecom_cursor, "done": self.done}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> GroupSyncCursor:
        data = data or {}
        return cls(
            str(data.get("after", "")),
            tuple(str(u) for u in data.get("chunk") or ()),
            str(data.get("wecom_cursor", "")),
            int(data.get("done") or 0),
        )
