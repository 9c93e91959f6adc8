"""The full sync's pure rules: directory answers, chunks, departed employees, missing relations, time budget."""

from chalicelib.domain import sync as rules
from chalicelib.domain.audience import Department, Employee


def test_an_employee_from_user_list_keeps_departments_and_leadership():
    user = {"userid": "u1", "name": "王伟", "department": [3, 7], "is_leader_in_dept": [0, 1], "direct_leader": ["b"]}
    employee = rules.employee_from_user(user)
    assert employee == Employee("u1", "王伟", (3, 7), True, (7,), ("b",))
    assert rules.employee_from_user({"userid": "u2"}) == Employee("u2")


def test_top_departments_cover_the_visible_tree_once():
    departments = [Department(1, parent_id=0), Department(2, parent_id=1), Department(9, parent_id=5)]
    assert rules.top_departments(departments) == [1, 9]


def test_departed_are_stored_active_employees_wecom_no_longer_lists():
    stored = [Employee("a"), Employee("b"), Employee("c", active=False)]
    assert rules.departed(stored, {"a"}) == [Employee("b")]


def test_chunks_walk_the_follow_users_in_order_without_repeats():
    users = ["d", "b", "a", "c", "b"]
    assert rules.next_chunk(users, "", 2) == ["a", "b"]
    assert rules.next_chunk(users, "b", 2) == ["c", "d"]
    assert rules.next_chunk(users, "d", 2) == []
    cursor = rules.SyncCursor("b", ("c", "d"), "next")
    assert rules.SyncCursor.from_dict(cursor.as_dict()) == cursor
    assert rules.chunk_done(cursor) == rules.SyncCursor("d")


def test_only_active_relations_older_than_the_run_are_missing():
    assert rules.is_missing(True, 99, 100)
    assert not rules.is_missing(True, 100, 100)
    assert not rules.is_missing(False, 1, 100)


def test_reconciliation_follows_a_completed_load_only():
    assert rules.needs_reconciliation("done")
    assert not rules.needs_reconciliation(None)
    assert not rules.needs_reconciliation("failed")


def test_a_page_starts_only_when_twice_the_slowest_page_fits_before_the_reserve():
    assert rules.may_start_page(20_000, 1_000, reserve_ms=5_000)
    assert not rules.may_start_page(20_000, 8_000, reserve_ms=5_000)
    assert not rules.may_start_page(4_000, 0, reserve_ms=5_000)


def test_lanes_split_the_follow_users_into_consecutive_ranges_that_cover_everyone_once():
    users = [f"u{i:02d}" for i in range(10)]
    bounds = rules.lane_bounds(reversed(users), 3)
    assert bounds == [("", "u02"), ("u02", "u05"), ("u05", "")]
    lanes = [rules.next_chunk([*users, "zz-new"], after, 100, upto) for after, upto in bounds]
    assert [len(lane) for lane in lanes] == [3, 3, 5]
    assert sorted(u for lane in lanes for u in lane) == sorted([*users, "zz-new"])
    assert rules.lane_bounds(users[:2], 5) == [("", "u00"), ("u00", "")]
    assert rules.lane_bounds([], 5) == [("", "")]
    assert rules.lane_bounds(users, 1) == [("", "")]


def test_a_lane_walks_its_chunks_up_to_its_bound():
    users = ["a", "b", "c", "d", "e"]
    assert rules.next_chunk(users, "a", 2, upto="c") == ["b", "c"]
    assert rules.next_chunk(users, "c", 2, upto="c") == []
    cursor = rules.SyncCursor("a", ("b", "c"), "next", upto="c")
    assert rules.SyncCursor.from_dict(cursor.as_dict()) == cursor
    assert rules.chunk_done(cursor) == rules.SyncCursor("c", upto="c")
