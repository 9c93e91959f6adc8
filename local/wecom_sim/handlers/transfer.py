"""Transfers: transfer_customer, transfer_result, resigned/transfer_customer, resigned/transfer_result,
get_unassigned_list."""

from __future__ import annotations

from local.wecom_sim import errors
from local.wecom_sim.errors import WeComError

from .common import POST, Call, Route, max_chars, page, page_limit, string_list, text

MAX_CUSTOMERS = 100
RESULTS_PER_PAGE = 1000


def _start(call: Call, kind: str) -> dict:
    company = call.company
    body = call.body
    handover = text(body, "handover_userid", errors.USERID_MISSING)
    takeover = text(body, "takeover_userid", errors.USERID_MISSING)
    customers = string_list(body, "external_userid", MAX_CUSTOMERS)
    if not customers:
        raise WeComError(errors.EXTERNAL_USERID_MISSING)
    if kind == "onjob":
        max_chars(text(body, "transfer_success_msg", required=False), 200, "transfer_success_msg")
    if handover == takeover:
        raise WeComError(errors.TRANSFER_SAME_USER)
    handing = company.employees.get(handover)
    if handing is None:
        raise WeComError(errors.INVALID_USERID)
    if kind == "resigned" and handing.active:
        raise WeComError(errors.NOT_RESIGNED)
    if kind == "onjob" and not handing.active:
        raise WeComError(errors.INVALID_USERID)
    if company.active_employee(takeover) is None:
        raise WeComError(errors.INVALID_USERID)
    results = []
    for external_userid in customers:
        if external_userid not in company.book.customers:
            code = errors.INVALID_EXTERNAL_USERID
        elif company.book.follow(handover, external_userid) is None:
            code = errors.NOT_FOLLOWER
        else:
            code = company.transfers.check(external_userid, call.now)
        if code == errors.OK:
            company.transfers.start(kind, handover, takeover, external_userid, call.now)
        results.append({"external_userid": external_userid, "errcode": code})
    return {"customer": results}


def _result(call: Call, kind: str) -> dict:
    handover = text(call.body, "handover_userid", errors.USERID_MISSING)
    takeover = text(call.body, "takeover_userid", errors.USERID_MISSING)
    records = call.company.transfers.records(kind, handover, takeover)
    chunk, cursor = page(records, str(call.body.get("cursor", "")), RESULTS_PER_PAGE)
    return {
        "customer": [
            {"external_userid": r.external_userid, "status": r.status, "takeover_time": int(r.takeover_at)}
            for r in chunk
        ],
        "next_cursor": cursor,
    }


def transfer_customer(call: Call) -> dict:
    return _start(call, "onjob")


def transfer_result(call: Call) -> dict:
    return _result(call, "onjob")


def resigned_transfer_customer(call: Call) -> dict:
    return _start(call, "resigned")


def resigned_transfer_result(call: Call) -> dict:
    return _result(call, "resigned")


def get_unassigned_list(call: Call) -> dict:
    body = call.body
    size = page_limit({"limit": body.get("page_size", 1000)}, 1000, 1000)
    entries = list(call.company.unassigned.items())
    cursor = str(body.get("cursor", ""))
    if not cursor and body.get("page_id"):
        start = page_limit({"limit": body["page_id"]}, 0, 1_000_000) * size
        chunk, following = entries[start : start + size], ""
        following_exists = start + size < len(entries)
    else:
        chunk, following = page(entries, cursor, size)
        following_exists = bool(following)
    return {
        "info": [
            {"handover_userid": handover, "external_userid": external_userid, "dimission_time": moment}
            for (handover, external_userid), moment in chunk
        ],
        "is_last": not following_exists,
        "next_cursor": following,
    }


ROUTES = {
    "externalcontact/transfer_customer": Route(POST, transfer_customer),
    "externalcontact/transfer_result": Route(POST, transfer_result),
    "externalcontact/resigned/transfer_customer": Route(POST, resigned_transfer_customer),
    "externalcontact/resigned/transfer_result": Route(POST, resigned_transfer_result),
    "externalcontact/get_unassigned_list": Route(POST, get_unassigned_list),
}
