"""Group chats as the admin API reads them, every read a Query or a BatchGet (never a Scan).

- by owner: the owner index (live chats, by name, a name prefix narrows the Query);
- by owners' department: the stored employees of that department, then the owner index of each in userid order
  (the cursor carries the owner and the index position);
- otherwise: the tenant's name index (every chat, by name; a name prefix narrows it).
A status filter applies to each page read (a page may come back shorter than the limit; follow `next_cursor`).
A chat's customers are linked to their profile (BatchGet of the profiles of the members on the page).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from chalicelib.domain.group_chats import CUSTOMER, DISMISSED, INHERIT_STATUSES, LIVE, GroupChat, Scope, sum_days
from chalicelib.store.customer_directory import CustomerDirectory
from chalicelib.store.customers import CustomerStore
from chalicelib.store.dynamo import InvalidCursor, decode_cursor, encode_cursor
from chalicelib.store.groups import GroupStore

STATUSES = (LIVE, DISMISSED, *(s for s in INHERIT_STATUSES.values() if s != "normal"))
FIGURE_DAYS_MAX = 366


class GroupNotFound(LookupError):
    """No such group chat in this tenant."""


@dataclass(frozen=True)
class GroupFilter:
    owner: str = ""
    department: int = 0
    status: str = ""
    name_prefix: str = ""


def _matches(chat: GroupChat, status: str) -> bool:
    if not status:
        return True
    if status in (LIVE, DISMISSED):
        return chat.status == status
    return chat.status == LIVE and INHERIT_STATUSES.get(chat.inherit_status) == status


def list_groups(tenant_id: str, f: GroupFilter, limit: int, cursor: str | None) -> dict[str, Any]:
    """A page of chats matching `f`; raises InvalidCursor for a cursor this listing did not hand out."""
    groups = GroupStore(tenant_id)
    if f.department:
        chats, next_cursor = _department_page(tenant_id, groups, f, limit, cursor)
    else:
        chats, next_cursor = groups.chats_page(limit, cursor, owner=f.owner, name_prefix=f.name_prefix)
    return {"groups": [c.as_dict() for c in chats if _matches(c, f.status)], "next_cursor": next_cursor}


def _department_page(
    tenant_id: str, groups: GroupStore, f: GroupFilter, limit: int, cursor: str | None
) -> tuple[list[GroupChat], str | None]:
    owners = sorted(e.userid for e in CustomerStore(tenant_id).list_employees() if f.department in e.department_ids)
    state = decode_cursor(cursor) or {"o": owners[0] if owners else "", "c": None}
    if not isinstance(state, dict) or set(state) != {"o", "c"} or (state["o"] and state["o"] not in owners):
        raise InvalidCursor("invalid cursor")
    chats: list[GroupChat] = []
    position = owners.index(state["o"]) if state["o"] else len(owners)
    inner = state["c"]
    while position < len(owners) and len(chats) < limit:
        page, inner = groups.chats_page(limit - len(chats), inner, owner=owners[position], name_prefix=f.name_prefix)
        chats.extend(page)
        if inner is None:
            position += 1
    if position >= len(owners):
        return chats, None
    return chats, encode_cursor({"o": owners[position], "c": inner})


def group_detail(tenant_id: str, chat_id: str) -> dict[str, Any]:
    """One chat with its members; customers carry their profile's name and path when the tenant knows them."""
    groups = GroupStore(tenant_id)
    chat = groups.get_chat(chat_id)
    if chat is None:
        raise GroupNotFound(chat_id)
    members = groups.members(chat_id)
    known = CustomerDirectory(tenant_id).names(m.userid for m in members if m.type == CUSTOMER)
    views = []
    for member in sorted(members, key=lambda m: (m.join_time, m.userid)):
        view = member.as_dict()
        if member.type == CUSTOMER and member.userid in known:
            view["customer"] = {"name": known[member.userid], "path": f"/v1/customers/{member.userid}"}
        elif member.type == CUSTOMER:
            view["customer"] = None
        views.append(view)
    return {"group": chat.as_dict(), "members": views}


def day_range(first: str | None, last: str | None, today: date) -> tuple[str, str]:
    """The days asked for (default: the last 30), checked: ISO dates, first <= last, at most FIGURE_DAYS_MAX."""
    try:
        end = date.fromisoformat(last) if last else today
        start = date.fromisoformat(first) if first else end - timedelta(days=29)
    except ValueError:
        raise ValueError("from and to must be dates (YYYY-MM-DD)") from None
    if start > end or (end - start).days >= FIGURE_DAYS_MAX:
        raise ValueError(f"from must be on or before to, at most {FIGURE_DAYS_MAX} days apart")
    return start.isoformat(), end.isoformat()


def chat_figures(tenant_id: str, chat_id: str, first: str, last: str, owner: str = "") -> dict[str, Any]:
    """A chat's daily figures; GroupNotFound when the tenant has no such chat (or `owner` is given and not its
    owner)."""
    chat = GroupStore(tenant_id).get_chat(chat_id)
    if chat is None or (owner and chat.owner != owner):
        raise GroupNotFound(chat_id)
    return {"chat_id": chat_id, **figures(tenant_id, Scope.CHAT, chat_id, first, last)}


def owner_figures(tenant_id: str, userid: str, first: str, last: str) -> dict[str, Any]:
    """The daily figures of the chats an employee owns; LookupError for an employee the tenant does not have."""
    if not CustomerDirectory(tenant_id).employee_items([userid]):
        raise LookupError(userid)
    return {"owner": userid, **figures(tenant_id, Scope.OWNER, userid, first, last)}


def figures(tenant_id: str, scope: Scope, key: str, first: str, last: str) -> dict[str, Any]:
    """Joins, quits and net joins of customers per day (days without change are absent) and in total."""
    rows = GroupStore(tenant_id).daily(scope, key, first, last)
    return {
        "from": first,
        "to": last,
        "days": [{"day": d, "joins": j, "quits": q, "net": j - q} for d, j, q in rows],
        "total": sum_days(rows),
    }
