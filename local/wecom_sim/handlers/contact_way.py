"""「联系我」: add_contact_way, get_contact_way, update_contact_way, del_contact_way."""

from __future__ import annotations

from local.wecom_sim import errors, ids
from local.wecom_sim.errors import WeComError

from .common import POST, Call, Route, integer, max_chars, string_list, text

MAX_USERS = 100
MAX_TEMP_SECONDS = 14 * 86_400
MAX_WAYS = 500_000


def _validate(call: Call, way: dict) -> None:
    """Checks shared by add and update, on the merged configuration."""
    company = call.company
    if way["type"] not in (1, 2):
        raise WeComError(errors.CONTACT_WAY_TYPE_INVALID)
    if way["scene"] not in (1, 2):
        raise WeComError(errors.CONTACT_WAY_SCENE_INVALID)
    if way.get("style") is not None and not 1 <= way["style"] <= 11:
        raise WeComError(errors.CONTACT_WAY_STYLE_INVALID)
    max_chars(way["remark"], 30, "remark")
    max_chars(way["state"], 30, "state")
    users, parties = way["user"], way["party"]
    if not users and not parties:
        raise WeComError(errors.INVALID_PARAMETER, "user and party are both empty")
    if way["type"] == 1 and (len(users) != 1 or parties):
        raise WeComError(errors.INVALID_PARAMETER, "a single contact way takes exactly one user")
    for userid in users:
        employee = company.active_employee(userid)
        if employee is None:
            raise WeComError(errors.INVALID_USERID)
        if not employee.activated:
            raise WeComError(errors.USER_NOT_ACTIVATED)
    expanded = set(users)
    for party in parties:
        if party not in company.departments:
            raise WeComError(errors.INVALID_DEPARTMENT)
        expanded |= {e.userid for e in company.employees.values() if e.active and party in e.departments}
    if len(expanded) > MAX_USERS:
        raise WeComError(errors.CONTACT_WAY_USERS_LIMIT)
    if way["is_temp"]:
        if way["type"] != 1:
            raise WeComError(errors.INVALID_PARAMETER, "temporary contact ways are single-user")
        for key in ("expires_in", "chat_expires_in"):
            if not 0 < way[key] <= MAX_TEMP_SECONDS:
                raise WeComError(errors.INVALID_PARAMETER, f"{key} out of range")


def _fields(call: Call, base: dict) -> dict:
    body = call.body
    way = dict(base)
    for key in ("type", "scene", "style"):
        if key in body:
            way[key] = integer(body, key)
    for key in ("remark", "state"):
        if key in body:
            way[key] = text(body, key, required=False)
    if "skip_verify" in body:
        way["skip_verify"] = bool(body["skip_verify"])
    if "user" in body:
        way["user"] = string_list(body, "user", MAX_USERS, errors.CONTACT_WAY_USERS_LIMIT)
    if "party" in body:
        parties = body["party"]
        if not isinstance(parties, list) or not all(isinstance(p, int) for p in parties):
            raise WeComError(errors.INVALID_PARAMETER, "party must be a list of department ids")
        way["party"] = parties
    if "is_temp" in body:
        way["is_temp"] = bool(body["is_temp"])
    for key in ("expires_in", "chat_expires_in"):
        if key in body:
            way[key] = integer(body, key)
    return way


def add_contact_way(call: Call) -> dict:
    if "type" not in call.body:
        raise WeComError(errors.CONTACT_WAY_TYPE_MISSING)
    if "scene" not in call.body:
        raise WeComError(errors.CONTACT_WAY_SCENE_MISSING)
    if len(call.company.contact_ways) + len(call.company.join_ways) >= MAX_WAYS:
        raise WeComError(errors.CONTACT_WAY_USERS_LIMIT)
    defaults = {
        "style": None,
        "remark": "",
        "state": "",
        "skip_verify": True,
        "user": [],
        "party": [],
        "is_temp": False,
        "expires_in": 7 * 86_400,
        "chat_expires_in": 86_400,
    }
    way = _fields(call, defaults)
    _validate(call, way)
    config_id = ids.config_id(call.company.rng)
    way["config_id"] = config_id
    if way["scene"] == 2:
        way["qr_code"] = f"https://wework.qpic.cn/wwpic/{config_id}/0"
    call.company.contact_ways[config_id] = way
    result = {"config_id": config_id}
    if "qr_code" in way:
        result["qr_code"] = way["qr_code"]
    return result


def _existing(call: Call) -> dict:
    config_id = text(call.body, "config_id", errors.CONFIG_ID_MISSING)
    way = call.company.contact_ways.get(config_id)
    if way is None:
        raise WeComError(errors.CONFIG_ID_INVALID)
    return way


def get_contact_way(call: Call) -> dict:
    way = {key: value for key, value in _existing(call).items() if value is not None}
    return {"contact_way": way}


def update_contact_way(call: Call) -> dict:
    way = _existing(call)
    for fixed in ("type", "scene"):
        if fixed in call.body and call.body[fixed] != way[fixed]:
            raise WeComError(errors.INVALID_PARAMETER, f"{fixed} cannot be changed")
    updated = _fields(call, way)
    _validate(call, updated)
    way.update(updated)
    return {}


def del_contact_way(call: Call) -> dict:
    way = _existing(call)
    del call.company.contact_ways[way["config_id"]]
    return {}


ROUTES = {
    "externalcontact/add_contact_way": Route(POST, add_contact_way),
    "externalcontact/get_contact_way": Route(POST, get_contact_way),
    "externalcontact/update_contact_way": Route(POST, update_contact_way),
    "externalcontact/del_contact_way": Route(POST, del_contact_way),
}
