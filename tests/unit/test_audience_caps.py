"""Every list of an audience is capped, so one request's Queries are bounded however large its body."""

from __future__ import annotations

import pytest

from chalicelib.domain.audience import (
    LIST_CAPS,
    MAX_EXPLICIT_RECIPIENTS,
    AudienceFilter,
    InvalidAudience,
    audience_from_json,
)


def items(name: str, n: int) -> list:
    return list(range(1, n + 1)) if name == "departments" else [f"{name}-{i}" for i in range(n)]


@pytest.mark.parametrize("name", sorted(LIST_CAPS))
def test_each_list_is_refused_one_past_its_cap_and_named(name):
    cap = LIST_CAPS[name]
    base = {} if name in ("tags", "states", "senders", "departments") else {"all_customers": True}
    assert audience_from_json(base | {name: items(name, cap)})
    with pytest.raises(InvalidAudience, match=rf"audience\.{name}: at most {cap}"):
        audience_from_json(base | {name: items(name, cap + 1)})


def test_explicit_customers_are_capped_before_they_are_read():
    with pytest.raises(InvalidAudience, match=r"audience\.external_userids: at most"):
        audience_from_json({"external_userids": [f"wm{i}" for i in range(MAX_EXPLICIT_RECIPIENTS + 1)]})


def test_a_filter_built_in_code_is_held_to_the_same_caps():
    with pytest.raises(InvalidAudience, match=r"audience\.tags: at most"):
        AudienceFilter(tags=frozenset(items("tags", LIST_CAPS["tags"] + 1))).validate()


def test_booleans_are_not_department_ids():
    with pytest.raises(InvalidAudience, match=r"audience\.departments"):
        audience_from_json({"departments": [True]})
