"""Following a broadcast after dispatch: who confirmed, who received, who did not and why; reminders.

add_msg_template only creates a task each sender must confirm in WeCom. A `follow` message (armed by the schedule
handler every `FOLLOW_INTERVAL_SECONDS` while the broadcast is `following`) walks the senders in userid order,
`EMPLOYEES_PER_MESSAGE` at a time (continuing through a message with a cursor), and for each msgid of each unsettled
sender reads get_groupmsg_task (confirmed?) and get_groupmsg_send_result (per recipient: 0 not yet, 1 sent, 2 not a
friend, 3 over quota). It writes per-recipient results, takes back the receipts of those who did not receive (so the
customer's period counter only counts what arrived), and stores per-sender counts. 41063 ("still dispatching") means
ask again on the next pass. At the end of a pass the broadcast's counts are recomputed from the senders' results
(idempotent). When every sender has settled, or the policy's follow window has ended (recipients still at 0 are
then recorded `unsent`), the broadcast is `done`.

Reminders (`remind`): remind_groupmsg_send for each sender who has not confirmed, at most
`GROUPMSG_REMINDS_PER_24H` per task in any 24 hours (WeCom answers 41094 beyond); automatic ones follow the
tenant's policy (`auto_remind_after_hours`).
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from chalicelib.config import Settings, get_settings
from chalicelib.domain.audience import Receipt
from chalicelib.domain.broadcasts import TASK_CONFIRMED, Broadcast, CustomerResult, EmployeeResult, Status
from chalicelib.domain.token_bucket import Throttled
from chalicelib.domain.wecom_limits import (
    BLOCK_SECONDS_AFTER_MINUTE_LIMIT,
    GROUPMSG_REMINDS_PER_24H,
    GROUPMSG_TASK_MAX_LIMIT,
)
from chalicelib.observability import logger
from chalicelib.services.dispatch import MASS_DISPATCHING, SEND_RESULT, Outcome, limited_post, send_records
from chalicelib.services.tenant_wecom import tenant_wecom
from chalicelib.store.broadcast_timers import FOLLOW
from chalicelib.store.broadcasts import BroadcastStore
from chalicelib.store.customers import CustomerStore
from chalicelib.store.dynamo import Conflict
from chalicelib.store.rate_limits import RateLimiter
from chalicelib.wecom import errors
from chalicelib.wecom.paging import cursor_pages

TASK = "externalcontact/get_groupmsg_task"
REMIND = "externalcontact/remind_groupmsg_send"
REMIND_TOO_FREQUENT = 41094
MASS_CANCELLED = 41093
FOLLOW_INTERVAL_SECONDS = 300
EMPLOYEES_PER_MESSAGE = 50
DAY = 86_400
STATUS_NAMES = {1: "sent", 2: "not_friend", 3: "over_quota"}


class Follower:
    """Reads WeCom's records of one tenant's broadcasts; `client`, `limiter` and `clock` injectable for tests."""

    def __init__(
        self,
        tenant_id: str,
        settings: Settings | None = None,
        *,
        client: Any = None,
        limiter: RateLimiter | None = None,
        clock: Any = time.time,
    ) -> None:
        self.tenant_id = tenant_id
        self.settings = settings or get_settings()
        self.store = BroadcastStore(tenant_id, self.settings)
        self.customers = CustomerStore(tenant_id, self.settings)
        self._client = client
        self.limiter = limiter or RateLimiter(self.settings)
        self.clock = clock

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = tenant_wecom(self.tenant_id, self.settings)
        return self._client

    def _post(self, api: str, body: dict[str, Any]) -> dict[str, Any]:
        return limited_post(self.client, self.limiter, api, body, retry_safe=True)

    # ---- following ----

    def follow(self, broadcast_id: str, cursor: str = "") -> Outcome:
        broadcast = self.store.get(broadcast_id)
        if broadcast is None or broadcast.status != Status.FOLLOWING:
            return Outcome(broadcast.status if broadcast else "missing")
        now = self.clock()
        closing = now >= broadcast.follow_until
        employees = [e for e in self.store.all_employee_results(broadcast_id) if e.userid > cursor]
        policy = self.store.get_policy()
        dispatched_at = broadcast.follow_until - policy.follow_hours * 3600
        remind_from = dispatched_at + policy.auto_remind_after_hours * 3600
        for done, employee in enumerate(employees, start=1):
            if not _settled(employee):
                try:
                    self._follow_employee(broadcast, employee, closing)
                except Throttled as throttled:
                    return Outcome("throttled", max(1, int(throttled.wait) + 1), cursor=cursor)
                except errors.RateLimited:
                    return Outcome("retry:RateLimited", BLOCK_SECONDS_AFTER_MINUTE_LIMIT, cursor=cursor)
                except (errors.ConcurrencyLimited, errors.SystemBusy, errors.WeComUnavailable) as error:
                    return Outcome(f"retry:{type(error).__name__}", 5, cursor=cursor)
                if policy.auto_remind_after_hours and now >= remind_from:
                    self._remind_employee(broadcast_id, self.store.employee_result(broadcast_id, employee.userid))
            cursor = employee.userid
            if done >= EMPLOYEES_PER_MESSAGE and done < len(employees):
                return Outcome("continued", 1, cursor=cursor)
        return self._close_pass(broadcast, closing)

    def _follow_employee(self, broadcast: Broadcast, employee: EmployeeResult, closing: bool) -> None:
        counts: Counter[str] = Counter()
        confirmed, send_time = True, 0
        for msgid in employee.msgids:
            try:
                status, at = self._task_status(msgid, employee.userid)
                records = send_records(
                    lambda body: self._post(SEND_RESULT, body), msgid, employee.userid, broadcast.chat_type
                )
            except errors.WeComError as error:
                if error.errcode in (MASS_DISPATCHING, MASS_CANCELLED):
                    return
                raise
            confirmed = confirmed and status == TASK_CONFIRMED
            send_time = max(send_time, at)
            results, not_received = [], []
            for recipient, code, sent_at in records:
                name = STATUS_NAMES.get(code, "unsent" if closing else "pending")
                counts[name] += 1
                if code or closing:
                    results.append(CustomerResult(recipient, employee.userid, name, msgid, sent_at))
                if code in (2, 3) or (closing and not code):
                    not_received.append(recipient)
            self.store.put_customer_results(broadcast.broadcast_id, results)
            self._take_back_receipts(broadcast, not_received)
        self.store.put_employee_result(
            broadcast.broadcast_id,
            EmployeeResult(
                employee.userid,
                employee.msgids,
                2 if confirmed and employee.msgids else 0,
                send_time,
                dict(counts),
                employee.reminded_at,
            ),
        )

    def _take_back_receipts(self, broadcast: Broadcast, external_userids: list[str]) -> None:
        if broadcast.chat_type != "single":
            return
        receipt = Receipt(broadcast.broadcast_id, datetime.fromtimestamp(broadcast.send_at, UTC))
        for ext in external_userids:
            self.customers.forget_receipts(ext, [receipt])

    def _task_status(self, msgid: str, userid: str) -> tuple[int, int]:
        for page in cursor_pages(
            lambda body: self._post(TASK, body), {"msgid": msgid, "limit": GROUPMSG_TASK_MAX_LIMIT}
        ):
            for task in page.get("task_list") or ():
                if task.get("userid") == userid:
                    return int(task.get("status", 0)), int(task.get("send_time") or 0)
        return 0, 0

    def _close_pass(self, broadcast: Broadcast, closing: bool) -> Outcome:
        employees = list(self.store.all_employee_results(broadcast.broadcast_id))
        totals: Counter[str] = Counter()
        for e in employees:
            totals.update({k: v for k, v in e.counts.items() if k in ("sent", "not_friend", "over_quota", "unsent")})
        confirmed = sum(1 for e in employees if e.confirmed)
        self.store.set_counts(
            broadcast.broadcast_id,
            {
                "sent": totals["sent"],
                "not_friend": totals["not_friend"],
                "over_quota": totals["over_quota"],
                "unsent": totals["unsent"],
                "employees_confirmed": confirmed,
            },
        )
        if closing or all(_settled(e) for e in employees):
            try:
                self.store.set_status(broadcast.broadcast_id, Status.DONE, expect=[Status.FOLLOWING])
            except Conflict:
                return Outcome("moved")
            logger.info("broadcast done", extra={"broadcast_id": broadcast.broadcast_id, **totals})
            return Outcome("done")
        self.store.set_timer(broadcast.broadcast_id, FOLLOW, self.clock() + FOLLOW_INTERVAL_SECONDS)
        return Outcome("following")

    # ---- reminders ----

    def remind(self, broadcast_id: str) -> dict[str, int]:
        """Remind every sender who has not confirmed, within WeCom's 3 per task per 24 hours."""
        reminded = skipped = 0
        for employee in self.store.all_employee_results(broadcast_id):
            if employee.confirmed or not employee.msgids:
                continue
            if self._remind_employee(broadcast_id, employee):
                reminded += 1
            else:
                skipped += 1
        if reminded:
            self.store.add_counts(broadcast_id, reminders=reminded)
        return {"reminded": reminded, "skipped": skipped}

    def _remind_employee(self, broadcast_id: str, employee: EmployeeResult | None) -> bool:
        if employee is None or employee.confirmed:
            return False
        now = int(self.clock())
        recent = tuple(t for t in employee.reminded_at if now - t < DAY)
        if len(recent) >= GROUPMSG_REMINDS_PER_24H:
            return False
        for msgid in employee.msgids:
            try:
                self._post(REMIND, {"msgid": msgid})
            except errors.WeComError as error:
                if error.errcode in (REMIND_TOO_FREQUENT, MASS_CANCELLED):
                    return False
                raise
        self.store.put_employee_result(
            broadcast_id,
            EmployeeResult(
                employee.userid,
                employee.msgids,
                employee.task_status,
                employee.send_time,
                employee.counts,
                (*recent, now),
            ),
        )
        return True


def _settled(employee: EmployeeResult) -> bool:
    """Confirmed and every recipient has a final status."""
    return employee.confirmed and not employee.counts.get("pending", 0)


def follow_broadcast(
    tenant_id: str, broadcast_id: str, *, cursor: str = "", settings: Settings | None = None
) -> Outcome:
    """The `follow` message's body: one pass over the broadcast's senders (continued through `cursor`)."""
    return Follower(tenant_id, settings).follow(broadcast_id, cursor)
