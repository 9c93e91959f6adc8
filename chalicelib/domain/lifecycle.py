"""Customer lifecycle rules: which welcome a new friend gets, what a welcome answer means, who inherits a departed
employee's customers, and how a transfer's status settles. Pure functions on plain data.

Successor rules (the tenant's departure policy), tried in order until one yields an active employee:
- `named`: the policy's named successor;
- `department_manager`: a leader of the departed employee's main department, else one of their direct leaders;
- `round_robin`: the departed employee's customers dealt in turn to the active members of their main department.
A named or manager rule that finds nobody falls back to round robin; a department with no one left yields no
successor, and the customers wait for an admin (`unassigned`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from chalicelib.domain.audience import Employee

WELCOME_SENT = 0
WELCOME_CODE_EXPIRED = 41050
WELCOME_ALREADY_DELIVERED = 41051
WELCOME_BEING_SENT_BY_ANOTHER_APP = 41096


class SuccessorRule(StrEnum):
    NAMED = "named"
    DEPARTMENT_MANAGER = "department_manager"
    ROUND_ROBIN = "round_robin"


@dataclass(frozen=True)
class DeparturePolicy:
    """How a tenant hands over a departed employee's customers, and who else hears about a lost customer."""

    rule: SuccessorRule = SuccessorRule.ROUND_ROBIN
    named_successor: str = ""
    alert_manager: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "successor_rule": self.rule.value,
            "named_successor": self.named_successor,
            "alert_manager": self.alert_manager,
        }


@dataclass(frozen=True)
class WelcomeContent:
    """A welcome message as send_welcome_msg takes it (text and attachments already validated)."""

    text: str = ""
    attachments: tuple[Mapping[str, Any], ...] = ()

    @property
    def empty(self) -> bool:
        return not self.text and not self.attachments

    def request_body(self, welcome_code: str) -> dict[str, Any]:
        body: dict[str, Any] = {"welcome_code": welcome_code}
        if self.text:
            body["text"] = {"content": self.text}
        if self.attachments:
            body["attachments"] = [dict(a) for a in self.attachments]
        return body


class WelcomeOutcome(StrEnum):
    SENT = "sent"
    ALREADY_DELIVERED = "already_delivered"
    RETRY = "retry"
    EXPIRED = "expired"
    FAILED = "failed"


def welcome_outcome(errcode: int) -> WelcomeOutcome:
    """What a send_welcome_msg errcode means: 41051 was delivered already (never repeat), 41096 may be retried while
    the code lives, 41050 expired (record it), anything else failed for good."""
    if errcode == WELCOME_SENT:
        return WelcomeOutcome.SENT
    if errcode == WELCOME_ALREADY_DELIVERED:
        return WelcomeOutcome.ALREADY_DELIVERED
    if errcode == WELCOME_BEING_SENT_BY_ANOTHER_APP:
        return WelcomeOutcome.RETRY
    if errcode == WELCOME_CODE_EXPIRED:
        return WelcomeOutcome.EXPIRED
    return WelcomeOutcome.FAILED


def choose_welcome(
    channel_welcome: WelcomeContent | None,
    employee_welcome: WelcomeContent | None,
    default_welcome: WelcomeContent | None,
) -> WelcomeContent | None:
    """The channel's welcome wins, then the employee's own, then the tenant's default; None when all are empty."""
    for content in (channel_welcome, employee_welcome, default_welcome):
        if content is not None and not content.empty:
            return content
    return None


def _manager(departed: Employee, active: Mapping[str, Employee]) -> str | None:
    department = departed.main
    leaders = sorted(
        e.userid for e in active.values() if department is not None and department in e.leader_in_departments
    )
    if leaders:
        return leaders[0]
    return next((u for u in departed.direct_leaders if u in active), None)


def _department_members(departed: Employee, active: Mapping[str, Employee]) -> list[str]:
    department = departed.main
    if department is None:
        return []
    return sorted(e.userid for e in active.values() if department in e.department_ids)


def choose_successors(
    departed: Employee, employees: Iterable[Employee], customers: Sequence[str], policy: DeparturePolicy
) -> dict[str, list[str]]:
    """Takeover userid → the customers they inherit (deterministic: customers are dealt in sorted order).

    Empty when nobody can take over; the departed employee is never their own successor.
    """
    active = {e.userid: e for e in employees if e.active and e.userid != departed.userid}
    ordered = sorted(dict.fromkeys(customers))
    if not ordered:
        return {}
    single: str | None = None
    if policy.rule is SuccessorRule.NAMED and policy.named_successor in active:
        single = policy.named_successor
    elif policy.rule is SuccessorRule.DEPARTMENT_MANAGER:
        single = _manager(departed, active)
    if single is not None:
        return {single: ordered}
    members = _department_members(departed, active)
    if not members:
        return {}
    shares: dict[str, list[str]] = {}
    for index, customer in enumerate(ordered):
        shares.setdefault(members[index % len(members)], []).append(customer)
    return shares


class TransferStatus(StrEnum):
    WAITING = "waiting"
    DONE = "done"
    REFUSED = "refused"
    TAKEOVER_LIMIT = "takeover_limit"
    RETRY = "retry"
    FAILED = "failed"

    @property
    def settled(self) -> bool:
        return self not in (TransferStatus.WAITING, TransferStatus.RETRY)


# transfer_result statuses (WECOM.md §4): 1 done, 2 waiting, 3 refused, 4 takeover at its limit, 5 no record.
_RESULT_STATUS = {
    1: TransferStatus.DONE,
    2: TransferStatus.WAITING,
    3: TransferStatus.REFUSED,
    4: TransferStatus.TAKEOVER_LIMIT,
    5: TransferStatus.RETRY,
}
# transfer_customer per-customer errcodes worth another try: WeCom busy, or a transfer of this customer still running.
_RETRY_START_ERRCODES = frozenset({-1, 40129, 45009, 45033})


def status_from_result(status: int) -> TransferStatus:
    """A transfer_result status as ours (an unknown number is kept waiting rather than guessed)."""
    return _RESULT_STATUS.get(status, TransferStatus.WAITING)


def status_from_start(errcode: int) -> TransferStatus:
    """A transfer_customer per-customer errcode as ours: 0 started (waiting), transient codes retry, others fail."""
    if errcode == 0:
        return TransferStatus.WAITING
    if errcode in _RETRY_START_ERRCODES:
        return TransferStatus.RETRY
    return TransferStatus.FAILED


def lost_alert_text(customer_name: str, external_userid: str, employee_name: str) -> str:
    """The app message an employee (and their manager) gets when a customer deletes them."""
    who = customer_name or external_userid
    return f"客户流失提醒：客户「{who}」已将{employee_name or '你'}删除。请及时跟进。"
