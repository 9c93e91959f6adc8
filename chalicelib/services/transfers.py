"""Handing customers over: a departed employee's (离职继承) and, on an admin's request, an active one's (在职继承).

`employee_left` marks the employee departed, reads their unassigned customers from WeCom, picks successors by the
tenant's departure policy (`domain.lifecycle.choose_successors`) and starts the transfers; their groups go to the
first successor. `start_transfers` is the one path both kinds use: at most TRANSFER_CUSTOMERS_PER_CALL customers per
call, every customer's answer stored. `poll_due_transfers` (the schedule) asks transfer_result for every pair still
waiting, stores what settled and starts again what failed for a transient reason, up to MAX_START_ATTEMPTS.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from chalicelib.config import Settings, get_settings
from chalicelib.domain.audience import Employee
from chalicelib.domain.lifecycle import TransferStatus, choose_successors, status_from_result, status_from_start
from chalicelib.domain.sync import employee_from_user
from chalicelib.domain.wecom_limits import (
    GROUPCHAT_OWNER_FILTER_MAX_USERIDS,
    GROUPCHAT_TRANSFER_MAX_CHATS,
    TRANSFER_CUSTOMERS_PER_CALL,
    UNASSIGNED_LIST_MAX_PAGE_SIZE,
    chunked,
)
from chalicelib.observability import bind_context, logger
from chalicelib.services.tenant_context import TenantContext
from chalicelib.store.transfers import ON_JOB, RESIGNED, TransferPair, due_pairs
from chalicelib.wecom.errors import WeComError, WeComUnavailable
from chalicelib.wecom.paging import cursor_pages

START_API = {RESIGNED: "externalcontact/resigned/transfer_customer", ON_JOB: "externalcontact/transfer_customer"}
RESULT_API = {RESIGNED: "externalcontact/resigned/transfer_result", ON_JOB: "externalcontact/transfer_result"}
UNASSIGNED_API = "externalcontact/get_unassigned_list"
USER_LIST_API = "user/list"
ROOT_DEPARTMENT = 1
GROUPCHAT_LIST_API = "externalcontact/groupchat/list"
GROUPCHAT_TRANSFER_API = "externalcontact/groupchat/transfer"
GROUPCHAT_WAITING_FOR_INHERITANCE = 1
POLL_INTERVAL_SECONDS = 300
MAX_START_ATTEMPTS = 3
POLL_BATCH = 50


@dataclass
class Handover:
    """What happened to a departed employee's customers and groups."""

    successors: dict[str, list[str]] = field(default_factory=dict)
    unassigned: list[str] = field(default_factory=list)
    started: dict[str, TransferStatus] = field(default_factory=dict)
    groups_moved: list[str] = field(default_factory=list)
    groups_failed: dict[str, str] = field(default_factory=dict)


def start_transfers(
    ctx: TenantContext, kind: str, handover: str, takeover: str, customers: Iterable[str], now: int
) -> dict[str, TransferStatus]:
    """Start transferring `customers` from `handover` to `takeover`; every customer's answer is stored.

    Starting one twice is harmless (WeCom answers 40129, kept for retry until transfer_result says otherwise), so
    the call is retry-safe.
    """
    pair = TransferPair(ctx.tenant_id, kind, handover, takeover)
    wanted = sorted(dict.fromkeys(customers))
    statuses: dict[str, TransferStatus] = {}
    for chunk in chunked(wanted, TRANSFER_CUSTOMERS_PER_CALL):
        answer = ctx.wecom.post(
            START_API[kind],
            {"handover_userid": handover, "takeover_userid": takeover, "external_userid": list(chunk)},
            retry_safe=True,
        )
        outcomes = {}
        for entry in answer.get("customer", ()):
            errcode = int(entry.get("errcode", 0))
            outcomes[entry["external_userid"]] = (status_from_start(errcode), errcode)
        ctx.transfers.record(pair, outcomes, now, now + POLL_INTERVAL_SECONDS)
        statuses.update({ext: status for ext, (status, _) in outcomes.items()})
    return statuses


def unassigned_customers(ctx: TenantContext, userid: str) -> list[str]:
    """The departed employee's customers WeCom lists as waiting for a successor."""
    customers: list[str] = []
    request = {"page_size": UNASSIGNED_LIST_MAX_PAGE_SIZE}
    for answer in cursor_pages(lambda body: ctx.wecom.post(UNASSIGNED_API, body, retry_safe=True), request):
        customers += [i["external_userid"] for i in answer.get("info", ()) if i.get("handover_userid") == userid]
    return customers


def _address_book(ctx: TenantContext) -> list[Employee]:
    """The stored employees; when none are stored yet (no sync ran), WeCom's address book, stored for next time."""
    employees = ctx.customers.list_employees()
    if employees:
        return employees
    answer = ctx.wecom.get(USER_LIST_API, {"department_id": ROOT_DEPARTMENT, "fetch_child": 1})
    employees = [employee_from_user(user) for user in answer.get("userlist", ())]
    ctx.customers.put_employees(employees)
    return employees


def _departed(ctx: TenantContext, userid: str) -> tuple[Employee, list[Employee]]:
    employees = _address_book(ctx)
    known = next((e for e in employees if e.userid == userid), None)
    departed = replace(known, active=False) if known else Employee(userid, active=False)
    ctx.customers.put_employees([departed])
    return departed, employees


def _hand_over_groups(ctx: TenantContext, userid: str, new_owner: str, result: Handover) -> None:
    """Give the departed owner's groups (those WeCom lists as waiting for inheritance) to `new_owner`."""
    chats: list[str] = []
    request = {
        "status_filter": GROUPCHAT_WAITING_FOR_INHERITANCE,
        "owner_filter": {"userid_list": [userid][:GROUPCHAT_OWNER_FILTER_MAX_USERIDS]},
        "limit": 1000,
    }
    for answer in cursor_pages(lambda body: ctx.wecom.post(GROUPCHAT_LIST_API, body, retry_safe=True), request):
        chats += [c["chat_id"] for c in answer.get("group_chat_list", ())]
    for chunk in chunked(chats, GROUPCHAT_TRANSFER_MAX_CHATS):
        try:
            answer = ctx.wecom.post(
                GROUPCHAT_TRANSFER_API, {"chat_id_list": list(chunk), "new_owner": new_owner}, retry_safe=True
            )
        except (WeComError, WeComUnavailable) as error:
            result.groups_failed.update(dict.fromkeys(chunk, str(error)))
            continue
        failed = {f["chat_id"]: f"errcode {f.get('errcode')}" for f in answer.get("failed_chat_list", ())}
        result.groups_failed.update(failed)
        result.groups_moved += [c for c in chunk if c not in failed]


def employee_left(ctx: TenantContext, userid: str, now: int) -> Handover:
    """Mark `userid` departed and hand their customers and groups to successors by the tenant's policy."""
    departed, employees = _departed(ctx, userid)
    customers = unassigned_customers(ctx, userid)
    result = Handover()
    result.successors = choose_successors(departed, employees, customers, ctx.transfers.get_policy())
    assigned = {c for share in result.successors.values() for c in share}
    result.unassigned = [c for c in customers if c not in assigned]
    for takeover, share in sorted(result.successors.items()):
        result.started.update(start_transfers(ctx, RESIGNED, userid, takeover, share, now))
    if result.successors:
        _hand_over_groups(ctx, userid, sorted(result.successors)[0], result)
    logger.info(
        "departed employee handed over",
        extra={
            "successors": len(result.successors),
            "customers": len(customers),
            "unassigned": len(result.unassigned),
            "groups_moved": len(result.groups_moved),
            "groups_failed": len(result.groups_failed),
        },
    )
    return result


def check_pair(ctx: TenantContext, pair: TransferPair, now: int) -> dict[str, TransferStatus]:
    """Read a pair's transfer_result, store it, and start again the customers worth another try."""
    results: dict[str, tuple[TransferStatus, None]] = {}
    takeover_times: dict[str, int] = {}
    request = {"handover_userid": pair.handover, "takeover_userid": pair.takeover}
    for answer in cursor_pages(lambda body: ctx.wecom.post(RESULT_API[pair.kind], body, retry_safe=True), request):
        for entry in answer.get("customer", ()):
            results[entry["external_userid"]] = (status_from_result(int(entry.get("status", 0))), None)
            if entry.get("takeover_time"):
                takeover_times[entry["external_userid"]] = int(entry["takeover_time"])
    known = {c.external_userid: c for c in ctx.transfers.customers(pair)}
    for ext, customer in known.items():
        if ext not in results and customer.status is TransferStatus.RETRY:
            results[ext] = (TransferStatus.RETRY, None)
    exhausted = {
        ext: (TransferStatus.FAILED, None)
        for ext, (status, _) in results.items()
        if status is TransferStatus.RETRY and ext in known and known[ext].attempts >= MAX_START_ATTEMPTS
    }
    results.update(exhausted)
    ctx.transfers.record(pair, results, now, now + POLL_INTERVAL_SECONDS, takeover_times)
    again = [ext for ext, (status, _) in results.items() if status is TransferStatus.RETRY]
    statuses = {ext: status for ext, (status, _) in results.items()}
    if again:
        statuses.update(start_transfers(ctx, pair.kind, pair.handover, pair.takeover, again, now))
    return statuses


def poll_due_transfers(now: int | None = None, settings: Settings | None = None, limit: int = POLL_BATCH) -> int:
    """The schedule's body: check every pair that is due; a pair that fails stays due for the next run."""
    settings = settings or get_settings()
    now = int(time.time()) if now is None else now
    checked = 0
    for pair in due_pairs(now, limit, settings):
        bind_context(tenant_id=pair.tenant_id)
        try:
            check_pair(TenantContext(pair.tenant_id, settings), pair, now)
            checked += 1
        except (WeComError, WeComUnavailable) as error:
            logger.warning("transfer check failed; due again next run", extra={"reason": str(error)})
    return checked
