"""The audience filter, the sender rule, the choice of Query source and department resolution."""

from __future__ import annotations

import pytest

from chalicelib.domain.audience import (
    ALL_CUSTOMERS_TAG,
    AudienceFilter,
    CustomerCard,
    Department,
    Employee,
    InvalidAudience,
    Relation,
    SourceKind,
    TagMatch,
    choose_sender,
    choose_source,
    resolve_senders,
)

VIP, SH = "etVIP", "etSH"


def test_any_all_and_excluded_tags():
    rel = Relation("amy", 10, frozenset({VIP}))
    assert AudienceFilter(tags=frozenset({VIP, SH})).matches(rel)
    assert not AudienceFilter(tags=frozenset({VIP, SH}), tag_match=TagMatch.ALL).matches(rel)
    assert not AudienceFilter(all_customers=True, excluded_tags=frozenset({VIP})).matches(rel)


def test_added_between_is_inclusive_and_state_and_senders_narrow():
    rel = Relation("amy", 100, state="store7")
    assert AudienceFilter(added_from=100, added_to=100).matches(rel)
    assert not AudienceFilter(added_from=101).matches(rel)
    assert not AudienceFilter(states=frozenset({"store8"})).matches(rel)
    assert not AudienceFilter(senders=frozenset({"bob"})).matches(rel)


def test_sender_is_the_first_added_matching_relation_unless_employees_are_chosen():
    card = CustomerCard(
        "c", (Relation("bob", 50, frozenset({VIP})), Relation("amy", 10), Relation("cat", 50, frozenset({VIP})))
    )
    assert choose_sender(card, AudienceFilter(all_customers=True)) == "amy"
    assert choose_sender(card, AudienceFilter(tags=frozenset({VIP}))) == "bob"
    assert choose_sender(card, AudienceFilter(tags=frozenset({VIP}), senders=frozenset({"cat"}))) == "cat"
    assert choose_sender(card, AudienceFilter(all_customers=True), inactive_senders=frozenset({"amy"})) == "bob"
    assert choose_sender(CustomerCard("c"), AudienceFilter(all_customers=True)) == ""


def test_source_is_the_narrowest_query():
    assert choose_source(AudienceFilter(external_userids=("c",))).kind is SourceKind.EXPLICIT
    by_emp = choose_source(AudienceFilter(senders=frozenset({"b", "a"}), tags=frozenset({VIP}), added_from=5))
    assert (by_emp.kind, by_emp.keys, by_emp.added_from) == (SourceKind.EMPLOYEES, ("a", "b"), 5)
    assert choose_source(AudienceFilter(states=frozenset({"s"}), tags=frozenset({VIP}))).kind is SourceKind.STATES
    assert choose_source(AudienceFilter(tags=frozenset({VIP, SH}))).keys == (SH, VIP)
    assert choose_source(AudienceFilter(tags=frozenset({VIP, SH}), tag_match=TagMatch.ALL)).keys == (SH,)
    assert choose_source(AudienceFilter(all_customers=True)).keys == (ALL_CUSTOMERS_TAG,)


def test_departments_resolve_to_their_members_including_sub_departments():
    departments = [Department(1, parent_id=0), Department(2, parent_id=1), Department(3, parent_id=0)]
    employees = [
        Employee("amy", department_ids=(2,)),
        Employee("bob", department_ids=(3,)),
        Employee("cat", department_ids=(1,)),
    ]
    resolved = resolve_senders(
        AudienceFilter(departments=frozenset({1}), senders=frozenset({"dan"})), employees, departments
    )
    assert resolved.senders == {"amy", "cat", "dan"}
    assert not resolved.departments


@pytest.mark.parametrize(
    ("audience", "field"),
    [
        (AudienceFilter(), "audience: give a criterion"),
        (AudienceFilter(all_customers=True, tags=frozenset({VIP})), "audience.all_customers"),
        (AudienceFilter(tags=frozenset({VIP}), excluded_tags=frozenset({VIP})), "audience.excluded_tags"),
        (AudienceFilter(added_from=5, added_to=4), "audience.added_from"),
        (AudienceFilter(external_userids=tuple(f"c{i}" for i in range(50_001))), "audience.external_userids"),
        (AudienceFilter(tags=frozenset({ALL_CUSTOMERS_TAG})), "audience.tags"),
    ],
)
def test_invalid_audiences_name_the_field(audience, field):
    with pytest.raises(InvalidAudience, match=field.replace(".", r"\.")):
        audience.validate()


def test_valid_audiences_pass():
    AudienceFilter(all_customers=True).validate()
    AudienceFilter(tags=frozenset({VIP}), excluded_tags=frozenset({SH})).validate()
