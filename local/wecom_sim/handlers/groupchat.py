"""Customer group chats: groupchat/list and groupchat/get.

groupchat/list without an owner filter lists the chats of the owners in the app's range (active members) and fails
with 81017 when that range holds more than 1,000 people; a departed owner's chats (status 1, waiting for
inheritance) are listed only through the owner filter, which takes at most 100 userids.
"""

from __future__ import annotations

from local.wecom_sim import errors
from local.wecom_sim.errors import WeComError
from local.wecom_sim.models import GroupChat

from .common import POST, Call, Route, integer, page, page_limit, string_list, text

UNFILTERED_LIST_MAX_PEOPLE = 1000
OWNER_FILTER_MAX = 100


def _status(call: Call, chat: GroupChat) -> int:
    """0 normal, 1 waiting for inheritance (owner resigned)."""
    return 0 if call.company.active_employee(chat.owner) is not None else 1


def groupchat_list(call: Call) -> dict:
    body = call.body
    if "limit" not in body:
        raise WeComError(errors.INVALID_PARAMETER, "limit missing")
    limit = page_limit(body, 1000, 1000)
    status_filter = integer(body, "status_filter", 0)
    if status_filter not in (0, 1, 2, 3):
        raise WeComError(errors.INVALID_PARAMETER, "status_filter must be 0..3")
    owner_filter = body.get("owner_filter") or {}
    if not isinstance(owner_filter, dict):
        raise WeComError(errors.INVALID_PARAMETER, "owner_filter must be an object")
    owners = set(string_list(owner_filter, "userid_list", OWNER_FILTER_MAX))
    if not owners:
        if len(call.company.active_userids()) > UNFILTERED_LIST_MAX_PEOPLE:
            raise WeComError(errors.GROUPCHAT_LIST_NEEDS_OWNER_FILTER)
        owners = call.company.active_userids()
    chats = [(chat.chat_id, _status(call, chat)) for chat in call.company.chats.values() if chat.owner in owners]
    chats = [(chat_id, status) for chat_id, status in chats if status_filter in (0, status)]
    chunk, cursor = page(chats, str(body.get("cursor", "")), limit)
    return {"group_chat_list": [{"chat_id": c, "status": s} for c, s in chunk], "next_cursor": cursor}


def groupchat_get(call: Call) -> dict:
    chat_id = text(call.body, "chat_id", errors.CHAT_NOT_FOUND)
    chat = call.company.chats.get(chat_id)
    if chat is None:
        raise WeComError(errors.CHAT_NOT_FOUND)
    need_name = bool(call.body.get("need_name"))
    company = call.company
    members = []
    for member in chat.members:
        view: dict = {
            "userid": member.userid,
            "type": member.type,
            "join_time": member.join_time,
            "join_scene": member.join_scene,
            "group_nickname": "",
        }
        customer = company.book.customers.get(member.userid) if member.type == 2 else None
        if customer is not None and customer.unionid:
            view["unionid"] = customer.unionid
        if member.invitor:
            view["invitor"] = {"userid": member.invitor}
        if member.state:
            view["state"] = member.state
        if need_name:
            person = company.employees.get(member.userid) or customer
            view["name"] = person.name if person else ""
        members.append(view)
    return {
        "group_chat": {
            "chat_id": chat.chat_id,
            "name": chat.name,
            "owner": chat.owner,
            "create_time": chat.create_time,
            "notice": chat.notice,
            "member_list": members,
            "admin_list": [{"userid": userid} for userid in chat.admins],
            "member_version": chat.member_version,
        }
    }


ROUTES = {
    "externalcontact/groupchat/list": Route(POST, groupchat_list),
    "externalcontact/groupchat/get": Route(POST, groupchat_get),
}
