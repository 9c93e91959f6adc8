"""Customer-acquisition links (获客助手, D97297, D97298, D97375): create_link, update_link, delete_link, list_link,
get, customer, statistic, and the quota (customer_acquisition_quota)."""

from __future__ import annotations

from local.wecom_sim import errors
from local.wecom_sim.acquisition import AcquisitionLink
from local.wecom_sim.errors import WeComError

from .common import GET, POST, Call, Route, integer, max_chars, page, page_limit, string_list, text

MAX_NAME_CHARS = 30
MAX_PEOPLE = 500
MAX_LIST_LIMIT = 100
MAX_CUSTOMER_LIMIT = 1000
DAY = 86_400
STATISTIC_MAX_SPAN = 30 * DAY
STATISTIC_HISTORY = 180 * DAY


def _range(call: Call, base: AcquisitionLink | None) -> tuple[list[str], list[int]]:
    """The link's users and departments: each user active, each department known, at most 500 people in all."""
    company = call.company
    scope = call.body.get("range")
    if scope is None:
        if base is None:
            raise WeComError(errors.INVALID_PARAMETER, "range missing")
        return base.users, base.departments
    if not isinstance(scope, dict):
        raise WeComError(errors.INVALID_PARAMETER, "range must be an object")
    users = string_list(scope, "user_list", MAX_PEOPLE)
    departments = scope.get("department_list") or []
    if not isinstance(departments, list) or not all(isinstance(d, int) for d in departments):
        raise WeComError(errors.INVALID_PARAMETER, "department_list must be a list of department ids")
    if not users and not departments:
        raise WeComError(errors.INVALID_PARAMETER, "range is empty")
    people = set()
    for userid in users:
        if company.active_employee(userid) is None:
            raise WeComError(errors.INVALID_USERID)
        people.add(userid)
    for department in departments:
        if department not in company.departments:
            raise WeComError(errors.INVALID_DEPARTMENT)
        people |= {e.userid for e in company.employees.values() if e.active and department in e.departments}
    if len(people) > MAX_PEOPLE:
        raise WeComError(errors.INVALID_PARAMETER, f"range covers more than {MAX_PEOPLE} people")
    return users, departments


def _name(call: Call, required: bool) -> str:
    name = text(call.body, "link_name", required=required)
    max_chars(name, MAX_NAME_CHARS, "link_name")
    return name


def _link(call: Call) -> AcquisitionLink:
    link = call.company.acquisition.links.get(text(call.body, "link_id"))
    if link is None:
        raise WeComError(errors.INVALID_PARAMETER, "invalid link_id")
    return link


def create_link(call: Call) -> dict:
    book = call.company.acquisition
    name = _name(call, True)
    users, departments = _range(call, None)
    if len(book.links) >= book.max_links:
        raise WeComError(errors.ACQUISITION_LINK_LIMIT)
    link = book.create(name, users, departments, bool(call.body.get("skip_verify", True)), call.now)
    return {"link": {"link_id": link.link_id, "link_name": link.name, "url": link.url, "create_time": link.create_time}}


def update_link(call: Call) -> dict:
    link = _link(call)
    name = _name(call, False)
    users, departments = _range(call, link)
    if name:
        link.name = name
    link.users, link.departments = users, departments
    if "skip_verify" in call.body:
        link.skip_verify = bool(call.body["skip_verify"])
    return {}


def delete_link(call: Call) -> dict:
    link = _link(call)
    del call.company.acquisition.links[link.link_id]
    return {}


def list_link(call: Call) -> dict:
    limit = page_limit(call.body, MAX_LIST_LIMIT, MAX_LIST_LIMIT)
    chunk, cursor = page(list(call.company.acquisition.links), str(call.body.get("cursor", "")), limit)
    return {"link_id_list": chunk, "next_cursor": cursor}


def get_link(call: Call) -> dict:
    link = _link(call)
    return {
        "link": {
            "link_name": link.name,
            "url": link.url,
            "create_time": link.create_time,
            "skip_verify": link.skip_verify,
        },
        "range": {"user_list": list(link.users), "department_list": list(link.departments)},
    }


def customers(call: Call) -> dict:
    link = _link(call)
    limit = page_limit(call.body, MAX_CUSTOMER_LIMIT, MAX_CUSTOMER_LIMIT)
    chunk, cursor = page(link.customers, str(call.body.get("cursor", "")), limit)
    return {
        "customer_list": [
            {"external_userid": c.external_userid, "userid": c.userid, "chat_status": c.chat_status, "state": c.state}
            for c in chunk
        ],
        "next_cursor": cursor,
    }


def statistic(call: Call) -> dict:
    link = _link(call)
    start, end = integer(call.body, "start_time"), integer(call.body, "end_time")
    if end < start or end - start > STATISTIC_MAX_SPAN or start < call.now - STATISTIC_HISTORY:
        raise WeComError(errors.INVALID_PARAMETER, "time range: at most 30 days within the last 180")
    return {
        "click_link_customer_cnt": sum(1 for t in link.clicks if start <= t <= end),
        "new_customer_cnt": sum(1 for c in link.customers if start <= c.added_at <= end),
    }


def quota(call: Call) -> dict:
    book = call.company.acquisition
    return {
        "total": book.total,
        "balance": book.balance,
        "quota_list": [{"expire_date": book.quota_expires_at, "balance": book.balance}] if book.balance else [],
    }


ROUTES = {
    "externalcontact/customer_acquisition/create_link": Route(POST, create_link),
    "externalcontact/customer_acquisition/update_link": Route(POST, update_link),
    "externalcontact/customer_acquisition/delete_link": Route(POST, delete_link),
    "externalcontact/customer_acquisition/list_link": Route(POST, list_link),
    "externalcontact/customer_acquisition/get": Route(POST, get_link),
    "externalcontact/customer_acquisition/customer": Route(POST, customers),
    "externalcontact/customer_acquisition/statistic": Route(POST, statistic),
    "externalcontact/customer_acquisition_quota": Route(GET, quota),
}
