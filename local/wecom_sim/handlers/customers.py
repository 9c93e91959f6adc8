"""Customers: get_follow_user_list, list, get, batch/get_by_user, remark, mark_tag."""

from __future__ import annotations

from local.wecom_sim import errors
from local.wecom_sim.errors import WeComError
from local.wecom_sim.models import Customer, Follow

from .common import GET, POST, Call, Route, max_chars, page, page_limit, string_list, text

FOLLOW_USERS_PER_PAGE = 500
MAX_REMARK_MOBILES = 5


def customer_view(customer: Customer) -> dict:
    view = {
        "external_userid": customer.external_userid,
        "name": customer.name,
        "type": customer.type,
        "gender": customer.gender,
        "avatar": f"https://wework.qpic.cn/wwhead/{customer.external_userid}/0",
    }
    if customer.unionid:
        view["unionid"] = customer.unionid
    if customer.corp_name:
        view["corp_name"] = customer.corp_name
    if customer.corp_full_name:
        view["corp_full_name"] = customer.corp_full_name
    return view


def _follow_common(follow: Follow) -> dict:
    view = {
        "userid": follow.userid,
        "remark": follow.remark,
        "description": follow.description,
        "createtime": follow.createtime,
        "remark_corp_name": follow.remark_corp_name,
        "remark_mobiles": list(follow.remark_mobiles),
        "oper_userid": follow.oper_userid,
        "add_way": follow.add_way,
    }
    if follow.state:
        view["state"] = follow.state
    return view


def follow_user_view(call: Call, follow: Follow) -> dict:
    view = _follow_common(follow)
    tags = call.company.tags
    view["tags"] = [
        {
            "group_name": tags.groups[tags.tags[tag_id].group_id].group_name,
            "tag_name": tags.tags[tag_id].name,
            "tag_id": tag_id,
            "type": 1,
        }
        for tag_id in follow.tag_ids
        if tag_id in tags.tags
    ]
    return view


def follow_info_view(follow: Follow) -> dict:
    view = _follow_common(follow)
    view["tag_id"] = list(follow.tag_ids)
    return view


def _customer(call: Call, external_userid: str) -> Customer:
    customer = call.company.book.customers.get(external_userid)
    if customer is None:
        raise WeComError(errors.INVALID_EXTERNAL_USERID)
    return customer


def _employee(call: Call, userid: str) -> None:
    if call.company.active_employee(userid) is None:
        raise WeComError(errors.INVALID_USERID)


def get_follow_user_list(call: Call) -> dict:
    employees = call.company.employees.values()
    return {"follow_user": [e.userid for e in employees if e.active and e.customer_contact]}


def list_customers(call: Call) -> dict:
    userid = text(call.query, "userid", errors.USERID_MISSING)
    _employee(call, userid)
    follows = call.company.book.follows_of_user(userid)
    if not follows:
        raise WeComError(errors.NO_RELATIONSHIP)
    return {"external_userid": [f.external_userid for f in follows]}


def get_customer(call: Call) -> dict:
    external_userid = text(call.query, "external_userid", errors.EXTERNAL_USERID_MISSING)
    customer = _customer(call, external_userid)
    follows = call.company.book.follows_of_customer(external_userid)
    if not follows:
        raise WeComError(errors.NO_RELATIONSHIP)
    chunk, cursor = page(follows, call.query.get("cursor", ""), FOLLOW_USERS_PER_PAGE)
    result = {"external_contact": customer_view(customer), "follow_user": [follow_user_view(call, f) for f in chunk]}
    if cursor:
        result["next_cursor"] = cursor
    return result


def batch_get_by_user(call: Call) -> dict:
    userids = string_list(call.body, "userid_list", 100)
    if not userids:
        raise WeComError(errors.INVALID_PARAMETER, "userid_list is empty")
    for userid in userids:
        _employee(call, userid)
    limit = page_limit(call.body, 50, 100, clamp=True)
    book = call.company.book
    follows = [f for userid in userids for f in book.follows_of_user(userid)]
    chunk, cursor = page(follows, str(call.body.get("cursor", "")), limit)
    return {
        "external_contact_list": [
            {"external_contact": customer_view(book.customers[f.external_userid]), "follow_info": follow_info_view(f)}
            for f in chunk
        ],
        "next_cursor": cursor,
    }


def _relation(call: Call) -> Follow:
    userid = text(call.body, "userid", errors.USERID_MISSING)
    external_userid = text(call.body, "external_userid", errors.EXTERNAL_USERID_MISSING)
    _employee(call, userid)
    _customer(call, external_userid)
    follow = call.company.book.follow(userid, external_userid)
    if follow is None:
        raise WeComError(errors.NO_RELATIONSHIP)
    return follow


def remark(call: Call) -> dict:
    follow = _relation(call)
    body = call.body
    limits = {"remark": 20, "description": 150, "remark_company": 20}
    values = {key: text(body, key, required=False) for key in limits if key in body}
    for key, value in values.items():
        max_chars(value, limits[key], key)
    mobiles = None
    if "remark_mobiles" in body:
        mobiles = string_list(body, "remark_mobiles", MAX_REMARK_MOBILES)
        for mobile in mobiles:
            max_chars(mobile, 32, "remark_mobiles item")
    if not values and mobiles is None and "remark_pic_mediaid" not in body:
        raise WeComError(errors.INVALID_PARAMETER, "nothing to change")
    if "remark_company" in values and call.company.book.customers[follow.external_userid].type != 1:
        raise WeComError(errors.INVALID_PARAMETER, "remark_company applies to WeChat customers only")
    follow.remark = values.get("remark", follow.remark)
    follow.description = values.get("description", follow.description)
    follow.remark_corp_name = values.get("remark_company", follow.remark_corp_name)
    if mobiles is not None:
        follow.remark_mobiles = [m for m in mobiles if m]
    return {}


def mark_tag(call: Call) -> dict:
    follow = _relation(call)
    add = string_list(call.body, "add_tag", 3000)
    remove = string_list(call.body, "remove_tag", 3000)
    if not add and not remove:
        raise WeComError(errors.INVALID_PARAMETER, "add_tag and remove_tag are both empty")
    known = call.company.tags.tags
    if any(tag_id not in known for tag_id in (*add, *remove)):
        raise WeComError(errors.INVALID_TAG_ID)
    kept = [tag_id for tag_id in follow.tag_ids if tag_id not in remove]
    follow.tag_ids = kept + [tag_id for tag_id in dict.fromkeys(add) if tag_id not in kept]
    return {}


ROUTES = {
    "externalcontact/get_follow_user_list": Route(GET, get_follow_user_list),
    "externalcontact/list": Route(GET, list_customers),
    "externalcontact/get": Route(GET, get_customer),
    "externalcontact/batch/get_by_user": Route(POST, batch_get_by_user),
    "externalcontact/remark": Route(POST, remark),
    "externalcontact/mark_tag": Route(POST, mark_tag),
}
