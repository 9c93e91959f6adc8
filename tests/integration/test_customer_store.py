"""The customer store on moto: out-of-order guard, tag audience by sender, cursors, cards, receipts, bulk writes."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from chalicelib.domain.audience import (
    ALL_CUSTOMERS_TAG,
    AudienceFilter,
    AudienceSource,
    Department,
    Employee,
    Receipt,
    Relation,
    SourceKind,
    TagMatch,
    choose_source,
)
from chalicelib.domain.planning import PlanContext, PlanState, plan_page
from chalicelib.domain.tag_catalogue import CatalogueTag
from chalicelib.store.customer_profiles import CustomerProfile
from chalicelib.store.customers import CustomerStore
from chalicelib.store.dynamo import BatchWriter
from chalicelib.store.relations import FollowRelation, TagMemberItem

VIP, SH = "etVIP", "etSH"


def rel(
    ext: str, userid: str, *, t: int = 100, tags: tuple[str, ...] = (), created: int = 1000, **kw
) -> FollowRelation:
    return FollowRelation(ext, userid, createtime=created, event_time=t, tag_ids=frozenset(tags), **kw)


def rows_of(store: CustomerStore, source: AudienceSource, page_size: int = 1000, cursor: str | None = None):
    return [
        (r.userid, r.external_userid) for page in store.audience_pages(source, cursor, page_size) for r in page.rows
    ]


@pytest.fixture
def store(aws) -> CustomerStore:
    return CustomerStore("acme", aws, shards=4)


def test_an_older_event_never_overwrites_a_newer_one(store):
    assert store.apply_follow(rel("wm1", "amy", t=200, tags=(VIP,), remark="new"))
    assert not store.apply_follow(rel("wm1", "amy", t=150, tags=(SH,), remark="old"))
    [stored] = store.get_follows("wm1")
    assert (stored.remark, stored.tag_ids) == ("new", {VIP})
    assert rows_of(store, AudienceSource(SourceKind.TAGS, (SH,))) == []
    assert store.apply_follow(rel("wm1", "amy", t=200, tags=(VIP,), remark="new"))  # redelivery is harmless


def test_tag_changes_and_loss_move_membership_and_card(store):
    store.apply_follow(rel("wm1", "amy", t=1, tags=(VIP,)))
    store.apply_follow(rel("wm1", "amy", t=2, tags=(SH,)))
    assert rows_of(store, AudienceSource(SourceKind.TAGS, (VIP,))) == []
    assert rows_of(store, AudienceSource(SourceKind.TAGS, (SH,))) == [("amy", "wm1")]
    assert store.get_cards(["wm1"])["wm1"].relations == (Relation("amy", 1000, frozenset({SH})),)
    store.apply_follow(rel("wm1", "amy", t=3, tags=(SH,), status="lost", lost_at=3, lost_by="customer"))
    assert rows_of(store, AudienceSource(SourceKind.ALL, (ALL_CUSTOMERS_TAG,))) == []
    assert store.get_cards(["wm1"])["wm1"].relations == ()
    assert store.get_follows("wm1")[0].lost_by == "customer"
    assert rows_of(store, AudienceSource(SourceKind.EMPLOYEES, ("amy",))) == []


def test_tag_audience_arrives_grouped_by_sender_across_shards_and_pages(store):
    relations = [
        rel(f"wm{i:03d}", u, tags=(VIP,), t=1)
        for i in range(60)
        for u in ("bob", "amy", "cat")
        if i % 3 != 0 or u == "amy"
    ]
    store.put_follows(relations)
    source = AudienceSource(SourceKind.TAGS, (VIP,))
    rows = rows_of(store, source, page_size=7)
    assert rows == sorted((r.userid, r.external_userid) for r in relations)
    # resuming from any page's cursor continues exactly after it
    pages = list(store.audience_pages(source, None, 11))
    resumed = rows_of(store, source, 11, pages[2].cursor)
    assert [(r.userid, r.external_userid) for p in pages[3:] for r in p.rows] == resumed
    assert pages[-1].done
    with pytest.raises(ValueError, match="another audience source"):
        list(store.audience_pages(AudienceSource(SourceKind.TAGS, (SH,)), pages[0].cursor))


def test_any_tags_merge_without_losing_order_and_duplicates_are_adjacent(store):
    store.put_follows(
        [rel("wm1", "amy", tags=(VIP, SH)), rel("wm2", "amy", tags=(SH,)), rel("wm3", "bob", tags=(VIP,))]
    )
    rows = rows_of(store, choose_source(AudienceFilter(tags=frozenset({VIP, SH}))), page_size=2)
    assert rows == [("amy", "wm1"), ("amy", "wm1"), ("amy", "wm2"), ("bob", "wm3")]


def test_employee_and_state_sources(store):
    store.put_follows(
        [
            rel("wm1", "amy", created=100, state="store7"),
            rel("wm2", "amy", created=300, state="store7"),
            rel("wm3", "bob", created=200, state="store8"),
        ]
    )
    by_emp = AudienceSource(SourceKind.EMPLOYEES, ("amy", "bob"), added_from=150)
    assert rows_of(store, by_emp, page_size=1) == [("amy", "wm2"), ("bob", "wm3")]
    assert rows_of(store, AudienceSource(SourceKind.EMPLOYEES, ("amy",), added_to=100)) == [("amy", "wm1")]
    assert rows_of(store, AudienceSource(SourceKind.STATES, ("store7", "store8"))) == [
        ("amy", "wm1"),
        ("amy", "wm2"),
        ("bob", "wm3"),
    ]


def test_sync_skips_older_data_and_removes_stale_memberships(store):
    store.apply_follow(rel("wm1", "amy", t=500, tags=(VIP,)))
    store.put_follows([rel("wm2", "amy", t=100, tags=(VIP,))])
    stats = store.put_follows([rel("wm1", "amy", t=400, tags=(SH,)), rel("wm2", "amy", t=600, tags=(SH,))])
    assert (stats.written, stats.skipped_older) == (1, 1)
    assert rows_of(store, AudienceSource(SourceKind.TAGS, (VIP,))) == [("amy", "wm1")]
    assert rows_of(store, AudienceSource(SourceKind.TAGS, (SH,))) == [("amy", "wm2")]
    assert store.get_cards(["wm2"])["wm2"].relations == (Relation("amy", 1000, frozenset({SH})),)


def test_rebuild_card_recomputes_from_relations(store):
    store.put_follows([rel("wm1", "amy"), rel("wm1", "bob", status="lost")])
    assert store.rebuild_card("wm1").relations == (Relation("amy", 1000),)


def test_receipts_and_do_not_disturb_survive_card_writes(store):
    store.apply_follow(rel("wm1", "amy"))
    at = datetime(2026, 3, 10, 2, tzinfo=UTC)
    assert store.record_receipts("bc1", at, ["wm1", "wm2"]) == 2
    store.record_receipts("bc1", at, ["wm1"])
    store.set_do_not_disturb("wm1", True)
    store.apply_follow(rel("wm1", "bob", t=5))
    card = store.get_cards(["wm1"])["wm1"]
    assert card.receipts == (Receipt("bc1", at),)
    assert card.do_not_disturb
    assert {r.userid for r in card.relations} == {"amy", "bob"}
    store.forget_receipts("wm1", card.receipts)
    assert store.get_cards(["wm1", "nobody"])["wm1"].receipts == ()


def test_profiles_employees_departments_and_tag_catalogue(store):
    assert store.upsert_profile(CustomerProfile("wm1", 10, name="李雷"))
    assert not store.upsert_profile(CustomerProfile("wm1", 9, name="old"))
    assert store.get_profile("wm1").name == "李雷"
    assert store.get_profile("nobody") is None
    store.put_employees([Employee("amy", "Amy", (2,), leader_in_departments=(2,)), Employee("bob", active=False)])
    assert [(e.userid, e.active, e.department_ids) for e in store.list_employees()] == [
        ("amy", True, (2,)),
        ("bob", False, ()),
    ]
    store.put_departments([Department(1, "HQ"), Department(2, "Shanghai", parent_id=1)])
    assert [d.name for d in store.list_departments()] == ["HQ", "Shanghai"]
    store.put_tag_catalogue(
        [CatalogueTag("g1", VIP, "VIP", "等级", 1, 2), CatalogueTag("g1", SH, "上海", "等级", 1, 1)]
    )
    store.put_tag_catalogue([CatalogueTag("g1", SH, "上海", "等级", 1, 1)])
    assert [t.name for t in store.list_tags()] == ["上海"]


def test_tenants_cannot_see_each_other(aws):
    acme, other = CustomerStore("acme", aws, shards=4), CustomerStore("other", aws, shards=4)
    acme.put_follows([rel("wm1", "amy", tags=(VIP,))])
    assert rows_of(other, AudienceSource(SourceKind.TAGS, (VIP,))) == []
    assert other.get_cards(["wm1"])["wm1"].relations == ()


def test_plan_a_tag_audience_end_to_end_from_the_store(store):
    store.put_follows(
        [
            rel("wm1", "bob", tags=(VIP,), created=5),
            rel("wm1", "amy", tags=(VIP,), created=9),
            rel("wm2", "amy", tags=(SH,)),
        ]
        + [rel(f"x{i}", "cat", tags=(VIP, SH)) for i in range(5)]
    )
    store.set_do_not_disturb("x0", True)
    audience = AudienceFilter(tags=frozenset({VIP, SH}), tag_match=TagMatch.ALL)
    ctx = PlanContext(
        "bc1", AudienceFilter(tags=frozenset({VIP}), excluded_tags=frozenset({SH})), datetime.now(UTC), max_per_batch=2
    )
    state, planned, closed = PlanState(), [], []
    for page in store.audience_pages(choose_source(ctx.audience), page_size=3):
        cards = store.get_cards({r.external_userid for r in page.rows})
        result = plan_page(ctx, state, page.rows, cards, last_page=page.done)
        state, planned, closed = result.state, planned + list(result.planned), closed + list(result.closed)
    assert planned == ["wm1"]
    assert [(c.sender, c.size) for c in closed] == [("bob", 1)]
    assert state.totals.skipped == {"chosen_by_another_sender": 1}
    assert state.totals.discarded == 5
    both = PlanContext("bc2", audience, datetime.now(UTC))
    state = PlanState()
    for page in store.audience_pages(choose_source(audience), page_size=4):
        result = plan_page(
            both, state, page.rows, store.get_cards({r.external_userid for r in page.rows}), last_page=page.done
        )
        state = result.state
    assert (state.totals.recipients, state.totals.skipped, state.totals.discarded) == (4, {"do_not_disturb": 1}, 1)


def test_bulk_write_throughput(aws, record_property):
    store = CustomerStore("bulk", aws)
    relations = [rel(f"wm{i:05d}", f"emp{i % 50:02d}", tags=(VIP,) if i % 2 else (), t=1) for i in range(2000)]
    started = time.perf_counter()
    stats = store.put_follows(relations)
    elapsed = time.perf_counter() - started
    # per relation: the follow item, its _all membership, a VIP membership for half, and the customer's card
    assert stats.items == 2000 * 3 + 1000
    items_per_second = stats.items / elapsed
    record_property("bulk_items_per_second", round(items_per_second))
    print(f"\nbulk write: {stats.items} items in {elapsed:.2f}s = {items_per_second:.0f} items/s")
    assert TagMemberItem.count(store.keys.key("tag", VIP, "00")) > 0
    customers = [r.external_userid for r in relations]
    started = time.perf_counter()
    store.record_receipts("bc1", datetime.now(UTC), customers)
    receipts_per_second = len(customers) / (time.perf_counter() - started)
    record_property("receipts_per_second", round(receipts_per_second))
    print(f"receipts: {len(customers)} recorded at {receipts_per_second:.0f}/s")
    started = time.perf_counter()
    cards = store.get_cards(customers)
    cards_per_second = len(cards) / (time.perf_counter() - started)
    record_property("cards_read_per_second", round(cards_per_second))
    print(f"cards with receipts: {len(cards)} read in bulk at {cards_per_second:.0f} customers/s")
    assert all(len(c.receipts) == 1 and len(c.relations) == 1 for c in cards.values())


def test_a_concurrent_card_change_is_retried_not_lost(store, monkeypatch):
    store.apply_follow(rel("wm1", "amy", t=1))
    original = CustomerStore._get_card_item
    interfered = []

    def read_then_race(self, external_userid):
        card = original(self, external_userid)
        if not interfered:
            interfered.append(True)
            assert store.apply_follow(rel("wm1", "bob", t=1))
        return card

    monkeypatch.setattr(CustomerStore, "_get_card_item", read_then_race)
    assert store.apply_follow(rel("wm1", "cat", t=1, tags=(VIP,)))
    assert {r.userid for r in store.get_cards(["wm1"])["wm1"].relations} == {"amy", "bob", "cat"}
    assert rows_of(store, AudienceSource(SourceKind.TAGS, (VIP,))) == [("cat", "wm1")]


class FlakyClient:
    """A DynamoDB client that leaves the last item of each request unprocessed, `flakes` times."""

    def __init__(self, flakes: int) -> None:
        self.flakes, self.calls = flakes, []

    def batch_write_item(self, RequestItems):
        [(table, requests)] = RequestItems.items()
        self.calls.append(len(requests))
        if self.flakes:
            self.flakes -= 1
            return {"UnprocessedItems": {table: requests[-1:]}}
        return {"UnprocessedItems": {}}


def test_batch_writer_sends_25_per_request_and_retries_unprocessed_items_with_backoff():
    client, sleeps = FlakyClient(flakes=1), []
    with BatchWriter(client, "t", sleep=sleeps.append) as writer:
        for i in range(30):
            writer.put(TagMemberItem("p", f"s{i}", external_userid="e", userid="u"))
    assert client.calls == [25, 1, 5]
    assert (writer.written, writer.requests, writer.retries, len(sleeps)) == (30, 3, 1, 1)
    stuck = BatchWriter(FlakyClient(flakes=99), "t", max_attempts=3, sleep=sleeps.append)
    stuck.put(TagMemberItem("p", "a", external_userid="e", userid="u"))
    stuck.put(TagMemberItem("p", "b", external_userid="e", userid="u"))
    with pytest.raises(RuntimeError, match="unprocessed after 3 attempts"):
        stuck.flush()
