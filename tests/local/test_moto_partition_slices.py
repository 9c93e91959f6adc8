"""The sort-key slices the local moto server's Query view keeps (pure bisection over sorted keys)."""

from __future__ import annotations

import pytest

from local.moto_partition_query import key_span

KEYS = ["a", "b#1", "b#2", "b#3", "c", "d"]


@pytest.mark.parametrize(
    ("comparison", "operands", "kept"),
    [
        (None, [], KEYS),
        ("=", ["b#2"], ["b#2"]),
        ("EQ", ["x"], []),
        ("<", ["b#2"], ["a", "b#1"]),
        ("<=", ["b#2"], ["a", "b#1", "b#2"]),
        (">", ["b#2"], ["b#3", "c", "d"]),
        (">=", ["b#2"], ["b#2", "b#3", "c", "d"]),
        ("BETWEEN", ["b#1", "c"], ["b#1", "b#2", "b#3", "c"]),
        ("begins_with", ["b#"], ["b#1", "b#2", "b#3"]),
        ("BEGINS_WITH", ["z"], []),
    ],
)
def test_each_condition_keeps_what_dynamodb_keeps(comparison, operands, kept):
    low, high = key_span(KEYS, comparison, operands)
    assert KEYS[low:high] == kept


def test_a_condition_it_does_not_order_is_left_to_moto():
    assert key_span(KEYS, "CONTAINS", ["b"]) is None
