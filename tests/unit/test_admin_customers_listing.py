"""Listing customers: which index answers a filter, and the whole filter checked on each relation."""

from dataclasses import dataclass

import pytest

from chalicelib.domain.customer_listing import CustomerFilter, InvalidListing, Source, TagMode, choose_source, matches


@dataclass(frozen=True)
class Rel:
    userid: str = "u1"
    createtime: int = 100
    tag_ids: frozenset[str] = frozenset({"t1", "t2"})
    state: str = "store_01"
    remark: str = "VIP Zhang"
    active: bool = True


def test_the_most_selective_index_answers():
    assert choose_source(CustomerFilter(name_prefix="王", employees=frozenset({"u1"}))) is Source.NAME
    assert choose_source(CustomerFilter(remark_prefix="v")) is Source.REMARK
    assert choose_source(CustomerFilter(lost=True, employees=frozenset({"u1"}))) is Source.LOST
    assert choose_source(CustomerFilter(employees=frozenset({"u1"}), state="s")) is Source.EMPLOYEES
    assert choose_source(CustomerFilter(state="s", tags=frozenset({"t"}))) is Source.STATE
    assert choose_source(CustomerFilter(tags=frozenset({"t"}))) is Source.TAGS
    assert choose_source(CustomerFilter(tags=frozenset({"t"}), tag_mode=TagMode.NONE)) is Source.ALL
    assert choose_source(CustomerFilter(lost=None)) is Source.ALL


def test_tag_modes_any_all_none():
    rel = Rel()
    assert matches(CustomerFilter(tags=frozenset({"t1", "x"})), rel, "")
    assert not matches(CustomerFilter(tags=frozenset({"t1", "x"}), tag_mode=TagMode.ALL), rel, "")
    assert matches(CustomerFilter(tags=frozenset({"t1", "t2"}), tag_mode=TagMode.ALL), rel, "")
    assert matches(CustomerFilter(tags=frozenset({"x"}), tag_mode=TagMode.NONE), rel, "")
    assert not matches(CustomerFilter(tags=frozenset({"t2"}), tag_mode=TagMode.NONE), rel, "")


def test_every_other_criterion_is_checked():
    rel = Rel()
    assert not matches(CustomerFilter(employees=frozenset({"u2"})), rel, "")
    assert not matches(CustomerFilter(state="other"), rel, "")
    assert matches(CustomerFilter(added_from=100, added_to=100), rel, "")
    assert not matches(CustomerFilter(added_from=101), rel, "")
    assert not matches(CustomerFilter(added_to=99), rel, "")
    assert not matches(CustomerFilter(), Rel(active=False), "")
    assert matches(CustomerFilter(lost=True), Rel(active=False), "")
    assert matches(CustomerFilter(lost=None), Rel(active=False), "")
    assert matches(CustomerFilter(name_prefix="wang"), rel, "Wang Wei")
    assert not matches(CustomerFilter(name_prefix="li"), rel, "Wang Wei")
    assert matches(CustomerFilter(remark_prefix="vip z"), rel, "")


@pytest.mark.parametrize(
    ("listing", "message"),
    [
        (CustomerFilter(tags=frozenset(str(n) for n in range(21))), "tag"),
        (CustomerFilter(added_from=2, added_to=1), "added_from"),
        (CustomerFilter(tag_mode=TagMode.ALL), "tag_match"),
        (CustomerFilter(name_prefix="a", remark_prefix="b"), "name_prefix"),
        (CustomerFilter(employees=frozenset(str(n) for n in range(101))), "department"),
    ],
)
def test_filters_that_cannot_be_answered_say_which_parameter(listing, message):
    with pytest.raises(InvalidListing, match=message):
        listing.validate()
