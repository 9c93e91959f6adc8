"""Mass messages: add_msg_template, get_groupmsg_list_v2, get_groupmsg_task, get_groupmsg_send_result,
remind_groupmsg_send, cancel_groupmsg_send."""

from __future__ import annotations

from local.wecom_sim import errors
from local.wecom_sim.company import Company
from local.wecom_sim.errors import WeComError
from local.wecom_sim.massmsg import MassMessage

from .common import POST, Call, Route, check_content, integer, page, page_limit, string_list, text
from .media import check_media_ids

MAX_CUSTOMERS = 10_000
MAX_CHATS = 2_000
MAX_TAGS_PER_GROUP = 100
MONTH = 31 * 86_400


def _tag_groups(call: Call) -> list[set[str]]:
    tag_filter = call.body.get("tag_filter") or {}
    groups = tag_filter.get("group_list") if isinstance(tag_filter, dict) else None
    if not groups:
        return []
    if not isinstance(groups, list):
        raise WeComError(errors.INVALID_PARAMETER, "tag_filter.group_list must be a list")
    result = []
    for group in groups:
        tags = string_list(group if isinstance(group, dict) else {}, "tag_list", MAX_TAGS_PER_GROUP)
        if any(tag not in call.company.tags.tags for tag in tags):
            raise WeComError(errors.INVALID_TAG_ID)
        if tags:
            result.append(set(tags))
    return result


def _single_receivers(call: Call, sender: str) -> tuple[dict[str, list[str]], list[str]]:
    company: Company = call.company
    book = company.book
    listed = string_list(call.body, "external_userid", MAX_CUSTOMERS)
    groups = [] if listed else _tag_groups(call)
    active = company.active_userids()
    by_sender: dict[str, list[str]] = {}
    fail: list[str] = []
    if listed:
        candidates = list(dict.fromkeys(listed))
    elif sender:
        candidates = [f.external_userid for f in book.follows_of_user(sender)]
    else:
        candidates = list(book.customers)
    for external_userid in candidates:
        if external_userid not in book.customers:
            fail.append(external_userid)
            continue
        userid = sender if sender else book.latest_follower(external_userid, active)
        if userid is None or not book.is_friend(userid, external_userid):
            fail.append(external_userid)
            continue
        follow = book.follow(userid, external_userid)
        if groups and not all(group.intersection(follow.tag_ids) for group in groups):
            continue
        by_sender.setdefault(userid, []).append(external_userid)
    return by_sender, fail


def _group_receivers(call: Call, sender: str) -> tuple[dict[str, list[str]], list[str]]:
    chats = call.company.chats
    listed = string_list(call.body, "chat_id_list", MAX_CHATS)
    candidates = list(dict.fromkeys(listed)) if listed else [c for c, chat in chats.items() if chat.owner == sender]
    ok = [c for c in candidates if c in chats and chats[c].owner == sender and chats[c].status == 0]
    return ({sender: ok} if ok else {}), [c for c in candidates if c not in ok]


def add_msg_template(call: Call) -> dict:
    chat_type = call.body.get("chat_type") or "single"
    if chat_type not in ("single", "group"):
        raise WeComError(errors.INVALID_PARAMETER, "chat_type must be single or group")
    sender = text(call.body, "sender", errors.USERID_MISSING, required=chat_type == "group")
    if sender and call.company.active_employee(sender) is None:
        raise WeComError(errors.INVALID_USERID)
    text_value, attachments = check_content(call.body)
    check_media_ids(call, attachments)
    if chat_type == "single":
        by_sender, fail = _single_receivers(call, sender)
    else:
        by_sender, fail = _group_receivers(call, sender)
    if not by_sender:
        raise WeComError(errors.NO_CUSTOMER_TO_SEND)
    message = call.company.mass.create(chat_type, by_sender, text_value, attachments, call.now, creator=sender)
    return {"fail_list": fail, "msgid": message.msgid}


def _message_view(message: MassMessage) -> dict:
    view = {
        "msgid": message.msgid,
        "creator": message.creator,
        "create_time": str(int(message.create_time)),
        "create_type": message.create_type,
        "attachments": message.attachments,
    }
    if message.text:
        view["text"] = message.text
    return view


def get_groupmsg_list_v2(call: Call) -> dict:
    body = call.body
    chat_type = body.get("chat_type")
    if chat_type not in ("single", "group"):
        raise WeComError(errors.INVALID_PARAMETER, "chat_type must be single or group")
    start, end = integer(body, "start_time"), integer(body, "end_time")
    if end < start or end - start > MONTH:
        raise WeComError(errors.INVALID_PARAMETER, "time range must be within one month")
    filter_type = integer(body, "filter_type", 2)
    if filter_type not in (0, 1, 2):
        raise WeComError(errors.INVALID_PARAMETER, "filter_type must be 0, 1 or 2")
    creator = text(body, "creator", required=False)
    limit = page_limit(body, 50, 100)
    dispatch = call.company.mass
    matching = [
        m
        for m in dispatch.messages.values()
        if m.chat_type == chat_type
        and start <= m.create_time <= end
        and (not creator or m.creator == creator)
        and filter_type in (2, m.create_type)
    ]
    for message in matching:
        dispatch.readable(message.msgid, call.now)
    chunk, cursor = page(matching, str(body.get("cursor", "")), limit)
    return {"group_msg_list": [_message_view(m) for m in chunk], "next_cursor": cursor}


def get_groupmsg_task(call: Call) -> dict:
    message = call.company.mass.readable(text(call.body, "msgid", errors.MSGID_MISSING), call.now)
    limit = page_limit(call.body, 500, 1000)
    chunk, cursor = page(list(message.tasks.values()), str(call.body.get("cursor", "")), limit)
    tasks = []
    for task in chunk:
        view = {"userid": task.userid, "status": task.status}
        if task.status == 2:
            view["send_time"] = task.send_time
        tasks.append(view)
    return {"task_list": tasks, "next_cursor": cursor}


def get_groupmsg_send_result(call: Call) -> dict:
    message = call.company.mass.readable(text(call.body, "msgid", errors.MSGID_MISSING), call.now)
    userid = text(call.body, "userid", errors.USERID_MISSING)
    limit = page_limit(call.body, 500, 1000)
    records = message.results.get(userid, [])
    chunk, cursor = page(records, str(call.body.get("cursor", "")), limit)
    key = "chat_id" if message.chat_type == "group" else "external_userid"
    sends = []
    for record in chunk:
        view = {key: record.receiver, "userid": record.userid, "status": record.status}
        if record.status == 1:
            view["send_time"] = record.send_time
        sends.append(view)
    return {"send_list": sends, "next_cursor": cursor}


def remind_groupmsg_send(call: Call) -> dict:
    call.company.mass.remind(text(call.body, "msgid", errors.MSGID_MISSING), call.now)
    return {}


def cancel_groupmsg_send(call: Call) -> dict:
    call.company.mass.cancel(text(call.body, "msgid", errors.MSGID_MISSING))
    return {}


ROUTES = {
    "externalcontact/add_msg_template": Route(POST, add_msg_template),
    "externalcontact/get_groupmsg_list_v2": Route(POST, get_groupmsg_list_v2),
    "externalcontact/get_groupmsg_task": Route(POST, get_groupmsg_task),
    "externalcontact/get_groupmsg_send_result": Route(POST, get_groupmsg_send_result),
    "externalcontact/remind_groupmsg_send": Route(POST, remind_groupmsg_send),
    "externalcontact/cancel_groupmsg_send": Route(POST, cancel_groupmsg_send),
}
