"""Change detection of the sync's writes: stored and desired items compared on content, volatile attributes aside."""

from chalicelib.domain.item_content import is_unchanged

STORED = {
    "pk": {"S": "t#cust#wm1"},
    "sk": {"S": "follow#amy"},
    "remark": {"S": "VIP"},
    "tag_ids": {"SS": ["t1", "t2"]},
    "remark_mobiles": {"L": [{"S": "138"}]},
    "createtime": {"N": "100"},
    "event_time": {"N": "500"},
}


def test_the_same_content_with_another_event_time_is_unchanged():
    desired = {**STORED, "event_time": {"N": "900"}}
    assert is_unchanged(STORED, desired, ("event_time",))
    assert not is_unchanged(STORED, desired)


def test_sets_compare_regardless_of_order_but_lists_do_not():
    assert is_unchanged(STORED, {**STORED, "tag_ids": {"SS": ["t2", "t1"]}})
    assert not is_unchanged(STORED, {**STORED, "tag_ids": {"SS": ["t1"]}})
    two = {**STORED, "remark_mobiles": {"L": [{"S": "138"}, {"S": "139"}]}}
    assert not is_unchanged(two, {**STORED, "remark_mobiles": {"L": [{"S": "139"}, {"S": "138"}]}})


def test_any_attribute_counts_including_ones_added_later_or_removed():
    assert not is_unchanged(STORED, {**STORED, "remark": {"S": "vip"}})
    assert not is_unchanged(STORED, {**STORED, "unionid": {"S": "o6_x"}})
    without_remark = {k: v for k, v in STORED.items() if k != "remark"}
    assert not is_unchanged(STORED, without_remark)
    assert not is_unchanged(STORED, {**STORED, "createtime": {"N": "101"}})


def test_maps_compare_by_content_and_a_missing_item_is_a_change():
    left = {"m": {"M": {"a": {"N": "1"}, "b": {"SS": ["x", "y"]}}}}
    right = {"m": {"M": {"b": {"SS": ["y", "x"]}, "a": {"N": "1"}}}}
    assert is_unchanged(left, right)
    assert not is_unchanged(None, STORED)
