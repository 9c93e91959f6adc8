"""Customer moment tasks: created from the admin API, submitted to WeCom within the corp's shared limits, and
followed to the end like mass messages (job result, who published, whom it reached, comments and likes), with one
reminder to employees who have not published. Rules and the task's life are in `domain.moments`.

The schedule handler drives every step through timers (`store.broadcast_timers`, kinds `moment_start` and
`moment_follow`): a scheduled task, or one the minute's creates pushed back, is submitted when its timer comes; a
submitted one is followed every FOLLOW_INTERVAL_SECONDS until it is done. Every step reads WeCom again and writes
results by key, so a step run twice does no harm; a task an admin cancelled meanwhile is left alone (`Conflict`).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from chalicelib.domain import moments as rules
from chalicelib.domain.moments import MomentTask
from chalicelib.domain.plans import Standing, not_sent_reason
from chalicelib.domain.wecom_limits import (
    APP_MESSAGE_MAX_TOUSER,
    MOMENT_CUSTOMER_LIST_MAX_LIMIT,
    MOMENT_SEND_RESULT_MAX_LIMIT,
    MOMENT_TASK_MAX_LIMIT,
    chunked,
)
from chalicelib.observability import logger
from chalicelib.services.relations import SEND_APP_MESSAGE_API
from chalicelib.services.tenant_context import TenantContext
from chalicelib.store.broadcast_timers import add_timer
from chalicelib.store.dynamo import Conflict
from chalicelib.store.moments import CustomerEvent, CustomerResult, EmployeeResult, MomentStore
from chalicelib.store.rate_limits import RateLimiter
from chalicelib.store.tenants import standing_of
from chalicelib.wecom.errors import RateLimited, WeComError
from chalicelib.wecom.paging import cursor_pages

ADD_API = "externalcontact/add_moment_task"
RESULT_API = "externalcontact/get_moment_task_result"
TASK_API = "externalcontact/get_moment_task"
CUSTOMER_LIST_API = "externalcontact/get_moment_customer_list"
SEND_RESULT_API = "externalcontact/get_moment_send_result"
COMMENTS_API = "externalcontact/get_moment_comments"
CANCEL_API = "externalcontact/cancel_moment_task"
MOMENT_START, MOMENT_FOLLOW = "moment_start", "moment_follow"
MINUTE_LIMIT, MONTH_LIMIT = "moment_create_minute", "moment_create_month"
MONTHLY_CAP_ERRCODE = 41210
JOB_DONE = 3
RESULT_POLL_SECONDS = 60


class MonthlyCapReached(Exception):
    """The corp's 100,000 moment tasks of the month are spent; `wait` seconds until the next one fits."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"the company's moment tasks of the month are used up; the next fits in {wait / 3600:.1f} h")
        self.wait = wait


class NotCancellable(Exception):
    """The task is finished, or WeCom has not yet said which moment it made."""


def new_task_id() -> str:
    return "mt" + secrets.token_hex(10)


def moments(ctx: TenantContext) -> MomentStore:
    return MomentStore(ctx.tenant_id, ctx.settings)


def create_task(ctx: TenantContext, draft: MomentTask, now: int | None = None) -> MomentTask:
    """Store the task and submit it now when it is due (a task refused for the month is not stored: it raises
    MonthlyCapReached); a later one waits for its timer."""
    now = int(time.time()) if now is None else now
    rules.check_content(draft.text, draft.attachments)
    task = replace(draft, status=rules.SCHEDULED, created_at=now, scheduled_at=max(draft.scheduled_at, now))
    if task.scheduled_at > now:
        moments(ctx).create(task)
        add_timer(ctx.tenant_id, task.task_id, MOMENT_START, task.scheduled_at)
        return task
    _take_month(ctx)
    moments(ctx).create(task)
    return submit(ctx, task, now, month_taken=True)


def _take_month(ctx: TenantContext) -> None:
    take = RateLimiter(ctx.settings).take_corp_token(ctx.wecom.corp_id, MONTH_LIMIT, rules.TASKS_PER_MONTH_BUCKET)
    if not take.granted:
        raise MonthlyCapReached(take.wait_seconds)


def submit(ctx: TenantContext, task: MomentTask, now: int, *, month_taken: bool = False) -> MomentTask:
    """Create the moment in WeCom when a token of the minute's creates is there (else try again when it will be)."""
    limiter = RateLimiter(ctx.settings)
    minute = limiter.take_corp_token(ctx.wecom.corp_id, MINUTE_LIMIT, rules.CREATES_PER_MINUTE_BUCKET)
    if not minute.granted:
        add_timer(ctx.tenant_id, task.task_id, MOMENT_START, now + minute.wait_seconds)
        return task
    if not month_taken:
        try:
            _take_month(ctx)
        except MonthlyCapReached as refused:
            return moments(ctx).save(replace(task, status=rules.FAILED, error=str(refused)), rules.SCHEDULED)
    try:
        answer = ctx.wecom.post(ADD_API, _request(task), retry_safe=False)
    except RateLimited:
        add_timer(ctx.tenant_id, task.task_id, MOMENT_START, now + 60)
        return task
    except WeComError as error:
        reason = "monthly cap reached" if error.errcode == MONTHLY_CAP_ERRCODE else str(error)
        return moments(ctx).save(replace(task, status=rules.FAILED, error=reason), rules.SCHEDULED)
    submitted = replace(task, status=rules.SUBMITTED, jobid=answer["jobid"], submitted_at=now)
    moments(ctx).save(submitted, rules.SCHEDULED)
    add_timer(ctx.tenant_id, task.task_id, MOMENT_FOLLOW, now + RESULT_POLL_SECONDS)
    return submitted


def _request(task: MomentTask) -> dict[str, Any]:
    body: dict[str, Any] = {"attachments": [dict(a) for a in task.attachments]}
    if task.text:
        body["text"] = {"content": task.text}
    senders = {"user_list": list(task.userids), "department_list": list(task.department_ids)}
    body["visible_range"] = {"sender_list": senders, "external_contact_list": {"tag_list": list(task.tag_ids)}}
    return body


def run_timer(tenant_id: str, task_id: str, kind: str, now: int | None = None) -> None:
    """The schedule handler's entry: submit a due task (cancel it, with the reason, when the tenant is no longer in
    good standing) or follow a submitted one."""
    now = int(time.time()) if now is None else now
    ctx = TenantContext(tenant_id)
    task = moments(ctx).get(task_id)
    if task is None:
        return
    try:
        if kind == MOMENT_START and task.status == rules.SCHEDULED:
            now_standing = standing_of(tenant_id, now)
            if now_standing is None:
                return
            if now_standing is not Standing.ACTIVE:
                reason = not_sent_reason(now_standing)
                moments(ctx).save(replace(task, status=rules.CANCELLED, finished_at=now, error=reason), task.status)
                return
            submit(ctx, task, now)
        elif kind == MOMENT_FOLLOW and task.status in (rules.SUBMITTED, rules.FOLLOWING):
            follow(ctx, task, now)
    except Conflict:
        logger.info("moment task changed meanwhile (cancelled?)", extra={"moment_task_id": task_id})


def follow(ctx: TenantContext, task: MomentTask, now: int) -> MomentTask:
    """One follow pass: the job's result first, then per employee whether they published, whom the moment reached,
    the customers' comments and likes (as customer events), a reminder when due, and the task's counts."""
    store = moments(ctx)
    if task.status == rules.SUBMITTED:
        answer = ctx.wecom.get(RESULT_API, {"jobid": task.jobid})
        if int(answer.get("status", 0)) != JOB_DONE:
            add_timer(ctx.tenant_id, task.task_id, MOMENT_FOLLOW, now + RESULT_POLL_SECONDS)
            return task
        result = answer.get("result") or {}
        if int(result.get("errcode", 0)):
            failed = replace(task, status=rules.FAILED, error=str(result.get("errmsg", "")), finished_at=now)
            return store.save(failed, rules.SUBMITTED)
        invalid_senders = result.get("invalid_sender_list") or {}
        following = replace(
            task,
            status=rules.FOLLOWING,
            moment_id=str(result["moment_id"]),
            invalid_userids=tuple(invalid_senders.get("user_list") or ()),
            invalid_department_ids=tuple(int(d) for d in invalid_senders.get("department_list") or ()),
            invalid_tag_ids=tuple((result.get("invalid_external_contact_list") or {}).get("tag_list") or ()),
        )
        task = store.save(following, rules.SUBMITTED)
    followed = _read_results(ctx, task, now)
    if rules.follow_over(followed, now):
        followed = replace(followed, status=rules.DONE, finished_at=now)
    else:
        pause = RESULT_POLL_SECONDS if followed.follow_offset < followed.employees else rules.FOLLOW_INTERVAL_SECONDS
        add_timer(ctx.tenant_id, task.task_id, MOMENT_FOLLOW, now + pause)
    return store.save(followed, rules.FOLLOWING)


def _pages(ctx: TenantContext, api: str, body: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for answer in cursor_pages(lambda b: ctx.wecom.post(api, b, retry_safe=True), dict(body)):
        rows += answer.get(key, ())
    return rows


def _read_results(ctx: TenantContext, task: MomentTask, now: int) -> MomentTask:
    """Who published (every employee, from `get_moment_task`), then the details of the next EMPLOYEES_PER_PASS
    employees in turn (a pass stays bounded however many employees the task has), the reminder when due, and the
    task's counts summed over every employee's stored result."""
    store = moments(ctx)
    moment = {"moment_id": task.moment_id}
    statuses = _pages(ctx, TASK_API, {**moment, "limit": MOMENT_TASK_MAX_LIMIT}, "task_list")
    published = {str(s["userid"]): int(s.get("publish_status", 0)) == 1 for s in statuses}
    before = {r.userid: r for r in store.employees(task.task_id).items}
    stored = dict(before)
    offset = task.follow_offset if task.follow_offset < len(statuses) else 0
    turn = [str(s["userid"]) for s in statuses[offset : offset + rules.EMPLOYEES_PER_PASS]]
    customers: list[CustomerResult] = []
    events: list[CustomerEvent] = []
    for userid in turn:
        result, rows, reactions = _employee_details(ctx, task, userid, published[userid])
        stored[userid] = replace(result, reminded=bool(userid in before and before[userid].reminded))
        customers += rows
        events += reactions
    for userid, is_published in published.items():
        if userid not in stored:
            stored[userid] = EmployeeResult(userid, is_published)
        elif stored[userid].published != is_published:
            stored[userid] = replace(stored[userid], published=is_published)
    results = {r.userid: r for r in _remind(ctx, task, [stored[u] for u in published], now)}
    store.put_employees(task.task_id, [r for u, r in results.items() if before.get(u) != r])
    store.put_customers(task.task_id, customers)
    store.add_customer_events(events)
    everyone = list(results.values())
    return replace(
        task,
        follow_offset=offset + len(turn),
        employees=len(everyone),
        published=sum(e.published for e in everyone),
        customers_reached=sum(e.customers_reached for e in everyone),
        comments=sum(e.comments for e in everyone),
        likes=sum(e.likes for e in everyone),
        reminded=sum(e.reminded for e in everyone),
    )


def _employee_details(
    ctx: TenantContext, task: MomentTask, userid: str, published: bool
) -> tuple[EmployeeResult, list[CustomerResult], list[CustomerEvent]]:
    """One employee's customers who could see the moment, those it reached, and their comments and likes."""
    mine = {"moment_id": task.moment_id, "userid": userid}
    visible = _pages(ctx, CUSTOMER_LIST_API, {**mine, "limit": MOMENT_CUSTOMER_LIST_MAX_LIMIT}, "customer_list")
    reached: set[str] = set()
    comments: list[dict[str, Any]] = []
    likes: list[dict[str, Any]] = []
    if published:
        sent = _pages(ctx, SEND_RESULT_API, {**mine, "limit": MOMENT_SEND_RESULT_MAX_LIMIT}, "customer_list")
        reached = {str(c["external_userid"]) for c in sent}
        answer = ctx.wecom.post(COMMENTS_API, mine, retry_safe=True)
        comments, likes = list(answer.get("comment_list", ())), list(answer.get("like_list", ()))
    reactions = rules.reaction_events(comments, likes)
    commented = _count(e[1] for e in reactions if e[0] == rules.COMMENT)
    liked = {e[1] for e in reactions if e[0] == rules.LIKE}
    rows = [
        CustomerResult(userid, c, c in reached, commented.get(c, 0), c in liked)
        for c in sorted({str(v["external_userid"]) for v in visible} | reached)
    ]
    result = EmployeeResult(userid, published, len(visible), len(reached), len(comments), len(likes))
    events = [CustomerEvent(e[1], e[0], e[2], userid, task.moment_id) for e in reactions]
    return result, rows, events


def _count(values: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def _remind(ctx: TenantContext, task: MomentTask, employees: list[EmployeeResult], now: int) -> list[EmployeeResult]:
    """Once, when due: an app message to the employees who have not published (≤ 1,000 recipients a message)."""
    if not rules.due_for_reminder(task, now):
        return employees
    waiting = [e.userid for e in employees if not e.published and not e.reminded]
    for chunk in chunked(waiting, APP_MESSAGE_MAX_TOUSER):
        ctx.wecom.post(
            SEND_APP_MESSAGE_API,
            {
                "touser": "|".join(chunk),
                "msgtype": "text",
                "agentid": ctx.wecom.agent_id,
                "text": {"content": rules.reminder_text(task)},
                "enable_duplicate_check": 1,
                "duplicate_check_interval": 1800,
            },
            retry_safe=True,
        )
    reminded = set(waiting)
    return [replace(e, reminded=True) if e.userid in reminded else e for e in employees]


def cancel(ctx: TenantContext, task: MomentTask) -> MomentTask:
    """Stop a task: one not yet submitted simply ends; a posted one is cancelled in WeCom (members who have not
    published no longer can)."""
    if task.status not in rules.OPEN_STATUSES:
        raise NotCancellable(f"the task is {task.status}")
    if task.status == rules.SUBMITTED:
        raise NotCancellable("WeCom is still creating the moment; try again in a minute")
    if task.status == rules.FOLLOWING:
        ctx.wecom.post(CANCEL_API, {"moment_id": task.moment_id}, retry_safe=True)
    now = int(time.time())
    return moments(ctx).save(replace(task, status=rules.CANCELLED, finished_at=now), task.status)
