"""Group join ways (群活码): add_join_way, get_join_way, update_join_way, del_join_way.

A join way lists one to five live chats (41091 beyond five), may create a new room when they are all full
(`auto_create_room`, named `room_base_name` + `room_base_id`), and carries a `state` of at most 30 characters that
members joining through it show in groupchat/get. Join ways share the corp's 500,000 「联系我」 quota.
"""

from __future__ import annotations

from local.wecom_sim import errors, ids
from local.wecom_sim.errors import WeComError
from local.wecom_sim.models import JoinWay

from .common import POST, Call, Route, integer, max_chars, string_list, text
from .contact_way import MAX_WAYS

MAX_CHATS = 5
ROOM_BASE_NAME_MAX_CHARS = 40


def _apply(call: Call, way: JoinWay) -> None:
    """Fields of an add or update body onto `way`, checked as WeCom does."""
    body = call.body
    if "scene" in body:
        way.scene = integer(body, "scene")
    if way.scene not in (1, 2):
        raise WeComError(errors.CONTACT_WAY_SCENE_INVALID)
    if "remark" in body:
        way.remark = text(body, "remark", required=False)
        max_chars(way.remark, 30, "remark")
    if "state" in body:
        way.state = text(body, "state", required=False)
        max_chars(way.state, 30, "state")
    if "auto_create_room" in body:
        way.auto_create_room = integer(body, "auto_create_room")
        if way.auto_create_room not in (0, 1):
            raise WeComError(errors.INVALID_PARAMETER, "auto_create_room must be 0 or 1")
    if "room_base_name" in body:
        way.room_base_name = text(body, "room_base_name", required=False)
        max_chars(way.room_base_name, ROOM_BASE_NAME_MAX_CHARS, "room_base_name")
    if "room_base_id" in body:
        way.room_base_id = integer(body, "room_base_id")
        if way.room_base_id < 0:
            raise WeComError(errors.INVALID_PARAMETER, "room_base_id must not be negative")
    if "chat_id_list" in body:
        chat_ids = string_list(body, "chat_id_list", MAX_CHATS, errors.JOIN_WAY_TOO_MANY_CHATS)
        for chat_id in chat_ids:
            chat = call.company.chats.get(chat_id)
            if chat is None or chat.status != 0:
                raise WeComError(errors.CHAT_NOT_FOUND, chat_id)
        way.chat_id_list = list(dict.fromkeys(chat_ids))
    if not way.chat_id_list:
        raise WeComError(errors.INVALID_PARAMETER, "chat_id_list is empty")


def add_join_way(call: Call) -> dict:
    if "scene" not in call.body:
        raise WeComError(errors.CONTACT_WAY_SCENE_MISSING)
    company = call.company
    if len(company.contact_ways) + len(company.join_ways) >= MAX_WAYS:
        raise WeComError(errors.CONTACT_WAY_USERS_LIMIT)
    way = JoinWay(ids.config_id(company.rng), scene=0, chat_id_list=[])
    _apply(call, way)
    if way.scene == 2:
        way.qr_code = f"https://wework.qpic.cn/wwpic/{way.config_id}/1"
    company.join_ways[way.config_id] = way
    return {"config_id": way.config_id}


def _existing(call: Call) -> JoinWay:
    config_id = text(call.body, "config_id", errors.CONFIG_ID_MISSING)
    way = call.company.join_ways.get(config_id)
    if way is None:
        raise WeComError(errors.CONFIG_ID_INVALID)
    return way


def get_join_way(call: Call) -> dict:
    way = _existing(call)
    return {
        "join_way": {
            "config_id": way.config_id,
            "scene": way.scene,
            "remark": way.remark,
            "auto_create_room": way.auto_create_room,
            "room_base_name": way.room_base_name,
            "room_base_id": way.room_base_id,
            "chat_id_list": list(way.chat_id_list),
            "qr_code": way.qr_code,
            "state": way.state,
        }
    }


def update_join_way(call: Call) -> dict:
    way = _existing(call)
    if "scene" not in call.body:
        raise WeComError(errors.CONTACT_WAY_SCENE_MISSING)
    draft = JoinWay(**{name: getattr(way, name) for name in JoinWay.__slots__})
    draft.chat_id_list = list(way.chat_id_list)
    _apply(call, draft)
    call.company.join_ways[way.config_id] = draft
    return {}


def del_join_way(call: Call) -> dict:
    way = _existing(call)
    del call.company.join_ways[way.config_id]
    return {}


ROUTES = {
    "externalcontact/groupchat/add_join_way": Route(POST, add_join_way),
    "externalcontact/groupchat/get_join_way": Route(POST, get_join_way),
    "externalcontact/groupchat/update_join_way": Route(POST, update_join_way),
    "externalcontact/groupchat/del_join_way": Route(POST, del_join_way),
}
