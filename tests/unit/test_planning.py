"""Property tests for the planner: once per customer, bounded single-sender batches, reasons, resumability."""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.audience import (
    AudienceFilter,
    AudienceRow,
    CustomerCard,
    Receipt,
    Relation,
    SkipReason,
    TagMatch,
    choose_source,
    explicit_rows,
)
from chalicelib.domain.frequency import FrequencyPolicy, WeComQuota, check_frequency
from chalicelib.domain.plan_shards import SenderRange, split_senders
from chalicelib.domain.planning import PlanContext, PlanState, PlanTotals, batch_id, plan_page

SEND_AT = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
USERS = ["alice", "bob", "carol", "dave"]
TAGS = ["vip", "sh", "new"]

relations = st.builds(
    Relation,
    userid=st.sampled_from(USERS),
    createtime=st.integers(1_600_000_000, 1_600_000_050),
    tags=st.frozensets(st.sampled_from(TAGS)),
    state=st.sampled_from(["", "qr1"]),
)


@st.composite
def customers(draw: st.DrawFn) -> dict[str, CustomerCard]:
    count = draw(st.integers(0, 40))
    cards = {}
    for i in range(count):
        ext = f"wm{i:04d}"
        rels = {r.userid: r for r in draw(st.lists(relations, max_size=4))}
        receipts = tuple(
            Receipt(f"b{j}", SEND_AT - timedelta(days=d))
            for j, d in enumerate(draw(st.lists(st.integers(0, 20), max_size=3)))
        )
        cards[ext] = CustomerCard(ext, tuple(rels.values()), receipts, draw(st.booleans()))
    return cards


filters = st.builds(
    AudienceFilter,
    tags=st.frozensets(st.sampled_from(TAGS[:2]), min_size=1),
    tag_match=st.sampled_from(list(TagMatch)),
    excluded_tags=st.frozensets(st.just("new")),
    senders=st.frozensets(st.sampled_from(USERS), max_size=2),
)


def stream(audience: AudienceFilter, cards: dict[str, CustomerCard], stale: list[AudienceRow]) -> list[AudienceRow]:
    """What the store yields for the chosen source: membership rows merged by userid#ext, duplicates adjacent."""
    source = choose_source(audience)
    rows = list(stale)
    for card in cards.values():
        for rel in card.relations:
            if source.keys and source.kind.value == "employees":
                if rel.userid in source.keys:
                    rows.append(AudienceRow(card.external_userid, rel.userid))
                continue
            rows.extend(AudienceRow(card.external_userid, rel.userid) for tag in source.keys if tag in rel.tags)
    return sorted(rows, key=lambda r: (r.userid, r.external_userid))


def run(ctx: PlanContext, rows: list[AudienceRow], cards: dict[str, CustomerCard], cuts: list[int]):
    """Plan in pages cut at `cuts`, restoring the state from JSON between pages like a resumed worker."""
    bounds = sorted({0, len(rows), *(c for c in cuts if 0 < c < len(rows))})
    state, results = PlanState(), []
    for start, end in itertools.pairwise(bounds):
        result = plan_page(ctx, state, rows[start:end], cards, last_page=end == len(rows))
        results.append(result)
        state = PlanState.from_json(json.loads(result.state.dumps()))
    if not rows:
        results.append(plan_page(ctx, state, [], cards, last_page=True))
    return results


def batches_of(results) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for result in results:
        for part in sorted(result.parts, key=lambda p: p.part):
            out[part.batch_id].extend(part.external_userids)
    return dict(out)


@settings(max_examples=150, deadline=None)
@given(
    cards=customers(),
    audience=filters,
    max_per_batch=st.integers(1, 5),
    cuts=st.lists(st.integers(0, 200), max_size=6),
    quota=st.sampled_from(list(WeComQuota)),
    stale_users=st.lists(st.tuples(st.integers(0, 50), st.sampled_from(USERS)), max_size=5),
)
def test_planner_properties(cards, audience, max_per_batch, cuts, quota, stale_users):
    ctx = PlanContext("bc1", audience, SEND_AT, FrequencyPolicy(quota=quota), max_per_batch=max_per_batch)
    stale = [AudienceRow(f"wm{i:04d}", u) for i, u in stale_users]
    rows = stream(audience, cards, stale)
    results = run(ctx, rows, cards, cuts)
    decisions = [d for r in results for d in r.decisions]

    # every distinct row judged once; every skip has a reason; planned = exactly the eligible customers
    assert len(decisions) == len({(r.userid, r.external_userid) for r in rows})
    planned = [d.row.external_userid for d in decisions if d.skip is None]
    assert len(planned) == len(set(planned))
    assert all(d.skip is None or isinstance(d.skip, SkipReason) for d in decisions)
    expected = set()
    for ext, card in cards.items():
        matching = [r for r in card.relations if audience.matches(r)]
        allowed = check_frequency(ctx.frequency, card.receipts, SEND_AT, "bc1") is None
        if matching and not card.do_not_disturb and allowed:
            expected.add(ext)
    assert set(planned) == expected

    # planned through the earliest-added matching relation
    for d in decisions:
        if d.skip is None:
            card = cards[d.row.external_userid]
            first = min((r for r in card.relations if audience.matches(r)), key=lambda r: (r.createtime, r.userid))
            assert d.row.userid == first.userid

    # batches: bounded, one sender, deterministic ids, contents = planned, closed batches agree with parts
    batches = batches_of(results)
    closed = [c for r in results for c in r.closed]
    assert sorted(batches) == sorted(c.batch_id for c in closed)
    senders_of = defaultdict(set)
    for result in results:
        for part in result.parts:
            senders_of[part.batch_id].add(part.sender)
            assert part.batch_id == batch_id("bc1", part.sender, part.sequence)
    parts_of = Counter(part.batch_id for result in results for part in result.parts)
    for c in closed:
        assert senders_of[c.batch_id] == {c.sender}
        assert c.parts == parts_of[c.batch_id]
        assert 1 <= c.size == len(batches[c.batch_id]) <= max_per_batch
    assert sorted(e for b in batches.values() for e in b) == sorted(planned)
    final = results[-1].state.totals
    assert final.recipients == len(planned)
    assert final.batches == len(closed)
    assert sum(final.skipped.values()) + final.discarded == len(decisions) - len(planned)

    # resuming from any cut gives the batches of one uninterrupted run
    assert batches_of(run(ctx, rows, cards, [])) == batches


@settings(max_examples=80, deadline=None)
@given(
    cards=customers(),
    audience=filters,
    max_per_batch=st.integers(1, 5),
    employees=st.lists(st.sampled_from([*USERS, "aaron", "bea", "zed"]), max_size=7),
    shards=st.integers(1, 5),
    cuts=st.lists(st.integers(0, 200), max_size=4),
)
def test_shards_plan_what_one_planner_plans(cards, audience, max_per_batch, employees, shards, cuts):
    """Rows split by sender ranges and planned shard by shard (each resumed at its own cuts) give the same decisions,
    the same batches (ids, senders, contents) and, summed, the same totals as one planner over every row."""
    ctx = PlanContext("bc1", audience, SEND_AT, max_per_batch=max_per_batch)
    rows = stream(audience, cards, [])
    whole = run(ctx, rows, cards, [])
    ranges = split_senders(employees, shards)
    sharded = [run(ctx, [r for r in rows if r.userid in senders], cards, cuts) for senders in ranges]

    def decisions(results):
        return sorted((d.row.userid, d.row.external_userid, d.skip) for r in results for d in r.decisions)

    assert decisions([r for results in sharded for r in results]) == decisions(whole)
    assert batches_of([r for results in sharded for r in results]) == batches_of(whole)

    def closed(results):
        """Closed batches without their part counts: a batch has one part per page it spans, so cuts change it."""
        return sorted((c.batch_id, c.sender, c.sequence, c.size) for r in results for c in r.closed)

    assert closed([r for results in sharded for r in results]) == closed(whole)
    assert PlanTotals.combine(results[-1].state.totals for results in sharded) == whole[-1].state.totals


@given(
    senders=st.lists(st.text("abcdefgh-_.@0123456789", min_size=1, max_size=6), max_size=60),
    shards=st.integers(1, 20),
    min_senders=st.integers(1, 6),
    probes=st.lists(st.text("abcdefgh-_.@0123456789", max_size=7), max_size=20),
)
def test_split_senders_covers_every_userid_once_in_balanced_ranges(senders, shards, min_senders, probes):
    ranges = split_senders(senders, shards, min_senders)
    distinct = sorted(set(senders))
    assert 1 <= len(ranges) <= max(1, min(shards, len(distinct) // min_senders))
    assert ranges[0].low == ""
    assert ranges[-1].high == ""
    assert all(a.high == b.low for a, b in itertools.pairwise(ranges))
    for userid in [*distinct, *probes]:
        assert sum(userid in r for r in ranges) == 1
    held = [sum(s in r for s in distinct) for r in ranges]
    assert sum(held) == len(distinct)
    assert max(held) - min(held) <= 1
    if len(ranges) > 1:
        assert min(held) >= min_senders


def test_one_shard_when_there_are_few_senders():
    assert split_senders(["amy", "bob", "cat"], 16, 4) == (SenderRange(),)
    assert split_senders([], 16) == (SenderRange(),)
    assert split_senders(["a", "b", "c", "d", "e", "f", "g", "h"], 16, 4) == (
        SenderRange("", "e"),
        SenderRange("e", ""),
    )


def test_batches_are_cut_at_the_maximum_and_numbered_per_sender():
    cards = {f"c{i}": CustomerCard(f"c{i}", (Relation("amy", 1, frozenset({"vip"})),)) for i in range(25)}
    audience = AudienceFilter(tags=frozenset({"vip"}))
    rows = sorted((AudienceRow(e, "amy") for e in cards), key=lambda r: r.external_userid)
    result = plan_page(PlanContext("b", audience, SEND_AT, max_per_batch=10), PlanState(), rows, cards, last_page=True)
    assert [(c.sequence, c.size) for c in result.closed] == [(0, 10), (1, 10), (2, 5)]


def test_rows_out_of_sender_order_are_refused():
    rows = [AudienceRow("c1", "bob"), AudienceRow("c2", "amy")]
    with pytest.raises(ValueError, match="sorted by sender"):
        plan_page(PlanContext("b", AudienceFilter(all_customers=True), SEND_AT), PlanState(), rows, {}, last_page=True)


def test_replanning_ignores_the_broadcasts_own_receipts():
    card = CustomerCard("c1", (Relation("amy", 1),), (Receipt("b", SEND_AT),))
    ctx = PlanContext("b", AudienceFilter(all_customers=True), SEND_AT, FrequencyPolicy(quota=WeComQuota.DAILY))
    result = plan_page(ctx, PlanState(), [AudienceRow("c1", "amy")], {"c1": card}, last_page=True)
    assert result.planned == ("c1",)
    other = PlanContext("b2", ctx.audience, SEND_AT, ctx.frequency)
    skipped = plan_page(other, PlanState(), [AudienceRow("c1", "amy")], {"c1": card}, last_page=True)
    assert skipped.decisions[0].skip is SkipReason.RECEIVING_QUOTA


def test_explicit_list_rows_are_grouped_by_chosen_sender_and_planned_once():
    cards = {
        "c1": CustomerCard("c1", (Relation("bob", 5), Relation("amy", 9))),
        "c2": CustomerCard("c2", (Relation("amy", 1),)),
        "c3": CustomerCard("c3"),
    }
    audience = AudienceFilter(external_userids=("c1", "c2", "c3", "c1"))
    rows = explicit_rows(audience, cards)
    assert rows == [AudienceRow("c3", ""), AudienceRow("c2", "amy"), AudienceRow("c1", "bob")]
    result = plan_page(PlanContext("b", audience, SEND_AT), PlanState(), rows, cards, last_page=True)
    assert result.planned == ("c2", "c1")
    assert result.state.totals.skipped == {"no_active_follow": 1}
    assert result.state.totals.senders == 2


def test_departed_senders_skip_and_rows_outside_the_audience_are_discarded_not_skipped():
    cards = {
        "c1": CustomerCard("c1", (Relation("amy", 1, frozenset({"vip"})),)),
        "c2": CustomerCard("c2", (Relation("bob", 1, frozenset({"sh"})),)),
    }
    ctx = PlanContext("b", AudienceFilter(tags=frozenset({"vip"})), SEND_AT, inactive_senders=frozenset({"amy"}))
    rows = [AudienceRow("c1", "amy"), AudienceRow("c2", "bob")]
    result = plan_page(ctx, PlanState(), rows, cards, last_page=True)
    assert [d.skip for d in result.decisions] == [SkipReason.NO_ACTIVE_FOLLOW, SkipReason.NOT_IN_AUDIENCE]
    assert result.state.totals.skipped == {"no_active_follow": 1}
    assert result.state.totals.discarded == 1
