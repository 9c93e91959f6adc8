"""Follow relations of one tenant's customers, with the tag memberships and the card that derive from them.

| item | pk | sk | index keys |
|---|---|---|---|
| follow relation | `<t>#cust#<ext>` | `follow#<userid>` | gsi1 `<t>#emp#<userid>` / `<createtime:010d>#<ext>`; |
|  |  |  | gsi2 `<t>#state#<state>` / `<userid>#<ext>` (active relations only: sparse indexes) |
| audience card | `<t>#cust#<ext>` | `card` | |
| tag membership | `<t>#tag#<tag_id>#<shard:02d>` | `<userid>#<ext>` | |

Every active relation is a member of its tags and of the pseudo tag `_all`, sharded by a hash of the external userid
(see `audience_streams`). The card holds a customer's active relations (userid, createtime, tags, state), so the
planner reads a page of customers with BatchGet instead of a Query per customer.

Out-of-order events: a relation carries the WeCom event time; a write with an older event time never overwrites newer
data (conditional writes; equal times rewrite, so a redelivered event is harmless). An event's relation, membership
changes and card are one TransactWrite. The full sync writes with BatchWriteItem, after reading the stored relations
and cards in bulk to skip older data, to remove memberships of tags that went away, and to write only what changed: a
relation whose stored item already says the same (every attribute but its event time, `domain.item_content`) is not
rewritten, nor its memberships; a card is rewritten only when its relations changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from pynamodb.attributes import ListAttribute, NumberAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib import resources
from chalicelib.domain.audience import ALL_CUSTOMERS_TAG, CustomerCard, Relation
from chalicelib.domain.item_content import is_unchanged
from chalicelib.store.customer_base import SHARDS, CustomerBase
from chalicelib.store.dynamo import is_condition_failure
from chalicelib.store.tables import on_table, shared_connection

MAX_TRANSACTION_ATTEMPTS = 5
ACTIVE, LOST = "active", "lost"
RELATION_VOLATILE = ("event_time",)
"""What a sync may leave as stored when nothing else changed: the time of the data, not the data."""


class ByEmployeeIndex(GlobalSecondaryIndex["FollowItem"]):
    """An employee's active customers by added time."""

    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class ByStateIndex(GlobalSecondaryIndex["FollowItem"]):
    """A channel's (State's) active relations, sorted by sender."""

    class Meta:
        index_name = "gsi2"
        projection = AllProjection()

    gsi2pk = UnicodeAttribute(hash_key=True)
    gsi2sk = UnicodeAttribute(range_key=True)


@on_table(resources.DATA)
class FollowItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    by_employee = ByEmployeeIndex()
    by_state = ByStateIndex()
    external_userid = UnicodeAttribute()
    userid = UnicodeAttribute()
    remark = UnicodeAttribute(null=True)
    description = UnicodeAttribute(null=True)
    remark_mobiles = ListAttribute(of=UnicodeAttribute, null=True)
    tag_ids = UnicodeSetAttribute(null=True)
    add_way = NumberAttribute(null=True)
    state = UnicodeAttribute(null=True)
    createtime = NumberAttribute()
    status = UnicodeAttribute()
    lost_at = NumberAttribute(null=True)
    lost_by = UnicodeAttribute(null=True)
    event_time = NumberAttribute()


@on_table(resources.DATA)
class CardItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    relations = UnicodeAttribute()
    version = NumberAttribute()


@on_table(resources.DATA)
class TagMemberItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    external_userid = UnicodeAttribute()
    userid = UnicodeAttribute()


@dataclass(frozen=True)
class FollowRelation:
    """One employee's relation with one customer, as of `event_time` (epoch s of the WeCom event or sync)."""

    external_userid: str
    userid: str
    createtime: int
    event_time: int
    remark: str = ""
    description: str = ""
    remark_mobiles: tuple[str, ...] = ()
    tag_ids: frozenset[str] = frozenset()
    add_way: int = 0
    state: str = ""
    status: str = ACTIVE
    lost_at: int | None = None
    lost_by: str = ""

    @property
    def active(self) -> bool:
        return self.status == ACTIVE

    def as_relation(self) -> Relation:
        return Relation(self.userid, self.createtime, self.tag_ids, self.state)


@dataclass
class WriteStats:
    """What a bulk write did: entries written, skipped as older than stored or as unchanged; items read (BatchGet)
    and written (puts and deletes), requests and retries."""

    written: int = 0
    skipped_older: int = 0
    unchanged: int = 0
    read: int = 0
    items: int = 0
    requests: int = 0
    retries: int = 0
    customers: set[str] = field(default_factory=set)


def shard_of(external_userid: str, shards: int = SHARDS) -> int:
    """The tag-membership shard of a customer (stable across processes, unlike hash())."""
    return int.from_bytes(hashlib.blake2b(external_userid.encode(), digest_size=4).digest(), "big") % shards


def card_to_json(relations: Iterable[Relation]) -> str:
    """A card's relations as stored: compact JSON sorted by userid."""
    items = [
        {"u": r.userid, "t": r.createtime, "g": sorted(r.tags), "s": r.state}
        for r in sorted(relations, key=lambda r: r.userid)
    ]
    return json.dumps(items, separators=(",", ":"), ensure_ascii=False)


def card_from_json(text: str) -> tuple[Relation, ...]:
    return tuple(Relation(i["u"], int(i["t"]), frozenset(i["g"]), i["s"]) for i in json.loads(text))


def relation_of(item: FollowItem) -> FollowRelation:
    """A relation as stored."""
    return FollowRelation(
        external_userid=item.external_userid,
        userid=item.userid,
        createtime=int(item.createtime),
        event_time=int(item.event_time),
        remark=item.remark or "",
        description=item.description or "",
        remark_mobiles=tuple(item.remark_mobiles or ()),
        tag_ids=frozenset(item.tag_ids or ()),
        add_way=int(item.add_way or 0),
        state=item.state or "",
        status=item.status,
        lost_at=int(item.lost_at) if item.lost_at is not None else None,
        lost_by=item.lost_by or "",
    )


class Relations(CustomerBase):
    """Reads and writes of follow relations, their memberships and cards (part of `CustomerStore`)."""

    def _member_key(self, tag_id: str, relation: FollowRelation) -> tuple[str, str]:
        pk = self.keys.key("tag", tag_id, f"{shard_of(relation.external_userid, self.shards):02d}")
        return pk, f"{relation.userid}#{relation.external_userid}"

    def _member_tags(self, relation: FollowRelation | None) -> set[str]:
        if relation is None or not relation.active:
            return set()
        return {*relation.tag_ids, ALL_CUSTOMERS_TAG}

    def _follow_item(self, r: FollowRelation) -> FollowItem:
        item = FollowItem(
            self._cust(r.external_userid),
            f"follow#{r.userid}",
            external_userid=r.external_userid,
            userid=r.userid,
            remark=r.remark or None,
            description=r.description or None,
            remark_mobiles=list(r.remark_mobiles) or None,
            tag_ids=set(r.tag_ids) or None,
            add_way=r.add_way,
            state=r.state or None,
            createtime=r.createtime,
            status=r.status,
            lost_at=r.lost_at,
            lost_by=r.lost_by or None,
            event_time=r.event_time,
        )
        if r.active:
            item.gsi1pk = self.keys.key("emp", r.userid)
            item.gsi1sk = f"{r.createtime:010d}#{r.external_userid}"
            item.gsi2pk = self.keys.key("state", r.state)
            item.gsi2sk = f"{r.userid}#{r.external_userid}"
        return item

    def get_follows(self, external_userid: str) -> list[FollowRelation]:
        """All relations of a customer, lost ones included."""
        items = FollowItem.query(self._cust(external_userid), FollowItem.sk.startswith("follow#"), consistent_read=True)
        return [relation_of(i) for i in items]

    def _get_follow(self, external_userid: str, userid: str) -> FollowRelation | None:
        try:
            return relation_of(FollowItem.get(self._cust(external_userid), f"follow#{userid}", consistent_read=True))
        except DoesNotExist:
            return None

    def _get_card_item(self, external_userid: str) -> CardItem | None:
        try:
            return CardItem.get(self._cust(external_userid), "card", consistent_read=True)
        except DoesNotExist:
            return None

    def apply_follow(self, relation: FollowRelation) -> bool:
        """Apply one event's view of a relation; False when a newer one is already stored.

        The relation, its tag-membership changes and the customer's card change together (one TransactWrite, so a
        relation may change at most 48 tags at once). A concurrent writer makes the transaction fail its conditions;
        it is then re-read and retried.
        """
        for _ in range(MAX_TRANSACTION_ATTEMPTS):
            old = self._get_follow(relation.external_userid, relation.userid)
            if old is not None and old.event_time > relation.event_time:
                return False
            card = self._get_card_item(relation.external_userid)
            relations = [r for r in (card_from_json(card.relations) if card else ()) if r.userid != relation.userid]
            if relation.active:
                relations.append(relation.as_relation())
            old_tags, new_tags = self._member_tags(old), self._member_tags(relation)
            try:
                with TransactWrite(connection=shared_connection(self.settings)) as tx:
                    condition = (
                        FollowItem.pk.does_not_exist() if old is None else FollowItem.event_time == old.event_time
                    )
                    tx.save(self._follow_item(relation), condition=condition)
                    for tag in old_tags - new_tags:
                        tx.delete(TagMemberItem(*self._member_key(tag, relation)))
                    for tag in new_tags - old_tags:
                        pk, sk = self._member_key(tag, relation)
                        tx.save(TagMemberItem(pk, sk, external_userid=relation.external_userid, userid=relation.userid))
                    version = int(card.version) if card else 0
                    tx.save(
                        CardItem(
                            self._cust(relation.external_userid),
                            "card",
                            relations=card_to_json(relations),
                            version=version + 1,
                        ),
                        condition=CardItem.pk.does_not_exist() if card is None else CardItem.version == version,
                    )
            except TransactWriteError as error:
                if is_condition_failure(error):
                    continue
                raise
            return True
        raise RuntimeError(f"relation {relation.userid}/{relation.external_userid}: too much contention")

    def put_follows(self, relations: Iterable[FollowRelation]) -> WriteStats:
        """Bulk-write relations from a sync page: skips those older than stored and those unchanged, keeps memberships
        and cards in step, and writes a card only when its relations changed.

        Reads the stored relations and cards of the page with BatchGet, then writes with BatchWriteItem. Not atomic
        with events: an event for the same customer landing between the read and the write can be overwritten on the
        card (its relation item is kept); the next event or `rebuild_card` repairs it.
        """
        incoming = {(r.external_userid, r.userid): r for r in relations}
        stats = WriteStats()
        if not incoming:
            return stats
        stored = {
            (i.external_userid, i.userid): i
            for i in FollowItem.batch_get([(self._cust(e), f"follow#{u}") for e, u in incoming])
        }
        cards = {i.pk: i for i in CardItem.batch_get({(self._cust(e), "card") for e, _ in incoming})}
        stats.read = len(stored) + len(cards)
        fresh = []
        for key, relation in incoming.items():
            item = stored.get(key)
            old = relation_of(item) if item is not None else None
            desired = self._follow_item(relation)
            if old is not None and old.event_time > relation.event_time:
                stats.skipped_older += 1
            elif item is not None and is_unchanged(item.serialize(), desired.serialize(), RELATION_VOLATILE):
                stats.unchanged += 1
            else:
                fresh.append((old, relation, desired))
        by_customer: dict[str, dict[str, Relation | None]] = {}
        with self.writer() as writer:
            for old, relation, desired in fresh:
                writer.put(desired)
                old_tags, new_tags = self._member_tags(old), self._member_tags(relation)
                for tag in old_tags - new_tags:
                    writer.delete(TagMemberItem(*self._member_key(tag, relation)))
                for tag in new_tags - old_tags:
                    pk, sk = self._member_key(tag, relation)
                    writer.put(TagMemberItem(pk, sk, external_userid=relation.external_userid, userid=relation.userid))
                change = relation.as_relation() if relation.active else None
                by_customer.setdefault(relation.external_userid, {})[relation.userid] = change
            for ext, changes in by_customer.items():
                card = cards.get(self._cust(ext))
                current = {r.userid: r for r in (card_from_json(card.relations) if card else ())}
                for userid, change in changes.items():
                    current.pop(userid, None)
                    if change is not None:
                        current[userid] = change
                text = card_to_json(current.values())
                if card is None or text != card.relations:
                    version = int(card.version) + 1 if card else 1
                    writer.put(CardItem(self._cust(ext), "card", relations=text, version=version))
        stats.items, stats.requests, stats.retries = writer.written, writer.requests, writer.retries
        stats.written = len(fresh)
        stats.customers = set(by_customer)
        return stats

    def rebuild_card(self, external_userid: str) -> CustomerCard:
        """Recompute a customer's card from their relation items (repair after a sync/event race)."""
        for _ in range(MAX_TRANSACTION_ATTEMPTS):
            card = self._get_card_item(external_userid)
            relations = [r.as_relation() for r in self.get_follows(external_userid) if r.active]
            version = int(card.version) if card else 0
            item = CardItem(self._cust(external_userid), "card", relations=card_to_json(relations), version=version + 1)
            try:
                item.save(condition=CardItem.pk.does_not_exist() if card is None else CardItem.version == version)
            except PutError as error:
                if is_condition_failure(error):
                    continue
                raise
            return CustomerCard(external_userid, card_from_json(item.relations))
        raise RuntimeError(f"card {external_userid}: too much contention")
