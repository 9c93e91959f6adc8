"""Pure lifecycle rules of the event worker: welcome choice and answers, successors, transfer statuses, tag merge."""

from __future__ import annotations

import pytest

from chalicelib.domain.audience import Employee
from chalicelib.domain.lifecycle import (
    DeparturePolicy,
    SuccessorRule,
    TransferStatus,
    WelcomeContent,
    WelcomeOutcome,
    choose_successors,
    choose_welcome,
    status_from_result,
    status_from_start,
    welcome_outcome,
)
from chalicelib.domain.tag_catalogue import CatalogueTag
from chalicelib.services.tag_catalogue import merge_catalogue
from chalicelib.wecom.events import ExternalTagEvent

CHANNEL, EMPLOYEE, DEFAULT = WelcomeContent("channel"), WelcomeContent("employee"), WelcomeContent("default")
STAFF = [
    Employee("leaver", department_ids=(7,), direct_leaders=("boss",)),
    Employee("amy", department_ids=(7,)),
    Employee("bob", department_ids=(7, 9)),
    Employee("cat", department_ids=(9,), leader_in_departments=(9,)),
    Employee("dan", department_ids=(7,), active=False),
    Employee("boss", department_ids=(1,)),
]
CUSTOMERS = ["c3", "c1", "c2", "c1"]


def test_the_channel_welcome_wins_then_the_employee_then_the_default():
    assert choose_welcome(CHANNEL, EMPLOYEE, DEFAULT) is CHANNEL
    assert choose_welcome(None, EMPLOYEE, DEFAULT) is EMPLOYEE
    assert choose_welcome(WelcomeContent(), None, DEFAULT) is DEFAULT
    assert choose_welcome(None, None, None) is None


def test_welcome_request_body_carries_the_code_text_and_attachments():
    link = {"msgtype": "link", "link": {"title": "t", "url": "https://x"}}
    body = WelcomeContent("hi", (link,)).request_body("CODE")
    assert body == {"welcome_code": "CODE", "text": {"content": "hi"}, "attachments": [link]}
    assert WelcomeContent(attachments=(link,)).request_body("C") == {"welcome_code": "C", "attachments": [link]}


@pytest.mark.parametrize(
    ("errcode", "outcome"),
    [
        (0, WelcomeOutcome.SENT),
        (41051, WelcomeOutcome.ALREADY_DELIVERED),
        (41096, WelcomeOutcome.RETRY),
        (41050, WelcomeOutcome.EXPIRED),
        (40058, WelcomeOutcome.FAILED),
    ],
)
def test_welcome_answers(errcode, outcome):
    assert welcome_outcome(errcode) is outcome


def test_a_named_successor_takes_everything_when_active():
    policy = DeparturePolicy(SuccessorRule.NAMED, named_successor="cat")
    assert choose_successors(STAFF[0], STAFF, CUSTOMERS, policy) == {"cat": ["c1", "c2", "c3"]}


def test_an_inactive_named_successor_falls_back_to_round_robin_in_the_department():
    policy = DeparturePolicy(SuccessorRule.NAMED, named_successor="dan")
    assert choose_successors(STAFF[0], STAFF, CUSTOMERS, policy) == {"amy": ["c1", "c3"], "bob": ["c2"]}


def test_the_department_manager_then_the_direct_leader():
    in_nine = Employee("leaver", department_ids=(9,))
    policy = DeparturePolicy(SuccessorRule.DEPARTMENT_MANAGER)
    assert choose_successors(in_nine, STAFF, ["c1"], policy) == {"cat": ["c1"]}
    assert choose_successors(STAFF[0], STAFF, ["c1"], policy) == {"boss": ["c1"]}


def test_the_main_department_decides_not_the_first_listed():
    leaver = Employee("leaver", department_ids=(7, 9), main_department=9)
    policy = DeparturePolicy(SuccessorRule.DEPARTMENT_MANAGER)
    assert choose_successors(leaver, STAFF, ["c1"], policy) == {"cat": ["c1"]}
    assert choose_successors(leaver, STAFF, ["c1", "c2"], DeparturePolicy()) == {"bob": ["c1"], "cat": ["c2"]}


def test_nobody_left_in_the_department_means_no_successor():
    alone = Employee("leaver", department_ids=(42,))
    assert choose_successors(alone, STAFF, CUSTOMERS, DeparturePolicy()) == {}
    assert choose_successors(STAFF[0], STAFF, [], DeparturePolicy()) == {}


def test_the_departed_employee_never_inherits_from_themself():
    policy = DeparturePolicy(SuccessorRule.NAMED, named_successor="leaver")
    assert "leaver" not in choose_successors(STAFF[0], STAFF, CUSTOMERS, policy)


def test_transfer_statuses():
    assert [status_from_result(s) for s in (1, 2, 3, 4, 5, 99)] == [
        TransferStatus.DONE,
        TransferStatus.WAITING,
        TransferStatus.REFUSED,
        TransferStatus.TAKEOVER_LIMIT,
        TransferStatus.RETRY,
        TransferStatus.WAITING,
    ]
    assert status_from_start(0) is TransferStatus.WAITING
    assert status_from_start(40129) is TransferStatus.RETRY
    assert status_from_start(40128) is TransferStatus.FAILED
    assert not TransferStatus.RETRY.settled
    assert TransferStatus.REFUSED.settled


def tag_event(change: str, tag_id: str, tag_type: str = "tag") -> ExternalTagEvent:
    return ExternalTagEvent(
        corp_id="ww", create_time=1, event="change_external_tag", change_type=change, tag_id=tag_id, tag_type=tag_type
    )


STORED = [CatalogueTag("g1", "t1", "a"), CatalogueTag("g1", "t2", "b"), CatalogueTag("g2", "t3", "c")]


def test_tag_merge_replaces_a_tag_a_group_or_everything():
    renamed = [CatalogueTag("g1", "t1", "A")]
    assert merge_catalogue(STORED, tag_event("update", "t1"), renamed) == [STORED[1], STORED[2], renamed[0]]
    group = [CatalogueTag("g1", "t2", "b"), CatalogueTag("g1", "t9", "new")]
    assert merge_catalogue(STORED, tag_event("update", "g1", "tag_group"), group) == [STORED[2], *group]
    assert merge_catalogue(STORED, tag_event("shuffle", ""), group) == group


def test_tag_merge_drops_a_deleted_tag_or_group():
    assert merge_catalogue(STORED, tag_event("delete", "t2"), None) == [STORED[0], STORED[2]]
    assert merge_catalogue(STORED, tag_event("delete", "g1", "tag_group"), None) == [STORED[2]]
