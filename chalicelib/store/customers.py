"""One tenant's customers, follow relations, tag membership, employees, departments and tag catalogue (data table).

Item layout (every partition key starts with the tenant id, through `TenantKeys`):

| item | pk | sk | index keys |
|---|---|---|---|
| customer profile | `<t>#cust#<ext>` | `profile` | |
| follow relation | `<t>#cust#<ext>` | `follow#<userid>` | gsi1 `<t>#emp#<userid>` / `<createtime:010d>#<ext>`; |
|  |  |  | gsi2 `<t>#state#<state>` / `<userid>#<ext>` (active relations only: sparse indexes) |
| audience card | `<t>#cust#<ext>` | `card` | |
| reach (receipts, do-not-disturb) | `<t>#cust#<ext>` | `reach` | |
| tag membership | `<t>#tag#<tag_id>#<shard:02d>` | `<userid>#<ext>` | |
| employee | `<t>#emp` | `<userid>` | |
| department | `<t>#dept` | `<id:010d>` | |
| tag catalogue | `<t>#tags` | `<group_id>#<tag_id>` | |

Every active relation is a member of its tags and of the pseudo tag `_all`, sharded by a hash of the external userid,
so a tag's audience (or everyone) is 16 Queries merged by sort key: rows arrive sorted by sender, and no partition
of a 10 M-customer tenant gets hot. The card holds a customer's
active relations (userid, createtime, tags, state) and the reach item what mass messages they got and whether they
asked not to be disturbed: the planner reads both for a page of customers with BatchGet (two keys per customer), never a
Query per customer. Cards are written by the customer side (events, sync), reach items only by the mass-message side,
so neither overwrites the other.

Out-of-order events: a follow relation or profile carries the WeCom event time; a write with an older event time never
overwrites newer data (conditional writes; equal times rewrite, so a redelivered event is harmless). An event's
relation, membership changes and card are one TransactWrite. The full sync writes with BatchWriteItem (25 per request,
unprocessed items retried with backoff), after reading the stored relations and cards in bulk to skip older data and
to remove memberships of tags that went away.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import json
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib import resources
from chalicelib.config import Settings
from chalicelib.domain.audience import (
    ALL_CUSTOMERS_TAG,
    AudienceRow,
    AudienceSource,
    CustomerCard,
    Department,
    Employee,
    Receipt,
    Relation,
    SourceKind,
)
from chalicelib.store.keys import TenantKeys
from chalicelib.store.tables import bind_models, on_table, shared_connection

SHARDS = 16
BATCH_WRITE_MAX = 25
RECEIPT_WORKERS = 8
MAX_TRANSACTION_ATTEMPTS = 5
ACTIVE, LOST = "active", "lost"


# ---- models (the domain never sees these) ----


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
class ProfileItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    external_userid = UnicodeAttribute()
    name = UnicodeAttribute(null=True)
    type = NumberAttribute(null=True)
    gender = NumberAttribute(null=True)
    unionid = UnicodeAttribute(null=True)
    corp_name = UnicodeAttribute(null=True)
    avatar = UnicodeAttribute(null=True)
    event_time = NumberAttribute()


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
class ReachItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    receipts = UnicodeSetAttribute(null=True)
    do_not_disturb = BooleanAttribute(null=True)


@on_table(resources.DATA)
class TagMemberItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    external_userid = UnicodeAttribute()
    userid = UnicodeAttribute()


@on_table(resources.DATA)
class EmployeeItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    name = UnicodeAttribute(null=True)
    department_ids = ListAttribute(of=NumberAttribute, null=True)
    status = UnicodeAttribute()
    leader_in_departments = ListAttribute(of=NumberAttribute, null=True)
    direct_leaders = ListAttribute(of=UnicodeAttribute, null=True)


@on_table(resources.DATA)
class DepartmentItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    name = UnicodeAttribute(null=True)
    parent_id = NumberAttribute()
    order = NumberAttribute(null=True)


@on_table(resources.DATA)
class TagItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    group_id = UnicodeAttribute()
    group_name = UnicodeAttribute(null=True)
    group_order = NumberAttribute(null=True)
    tag_id = UnicodeAttribute()
    name = UnicodeAttribute()
    order = NumberAttribute(null=True)


# ---- plain values in and out ----


@dataclass(frozen=True)
class CustomerProfile:
    external_userid: str
    event_time: int
    name: str = ""
    type: int = 0
    gender: int = 0
    unionid: str = ""
    corp_name: str = ""
    avatar: str = ""


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


@dataclass(frozen=True)
class CatalogueTag:
    group_id: str
    tag_id: str
    name: str
    group_name: str = ""
    group_order: int = 0
    order: int = 0


def catalogue_from(answer: Mapping[str, Any]) -> list[CatalogueTag]:
    """get_corp_tag_list's `tag_group` list as catalogue entries (deleted ones left out)."""
    tags = []
    for group in answer.get("tag_group", ()):
        if group.get("deleted"):
            continue
        for tag in group.get("tag", ()):
            if tag.get("deleted"):
                continue
            tags.append(
                CatalogueTag(
                    group_id=str(group["group_id"]),
                    tag_id=str(tag["id"]),
                    name=str(tag.get("name", "")),
                    group_name=str(group.get("group_name", "")),
                    group_order=int(group.get("order", 0) or 0),
                    order=int(tag.get("order", 0) or 0),
                )
            )
    return tags


@dataclass(frozen=True)
class AudiencePage:
    """A page of candidate rows (sorted by sender), the cursor after it, and whether the stream is finished."""

    rows: list[AudienceRow]
    cursor: str
    done: bool


@dataclass
class WriteStats:
    """What a bulk write did: relations written or skipped as older than stored; items, requests and retries."""

    written: int = 0
    skipped_older: int = 0
    items: int = 0
    requests: int = 0
    retries: int = 0
    customers: set[str] = field(default_factory=set)


def shard_of(external_userid: str, shards: int = SHARDS) -> int:
    """The tag-membership shard of a customer (stable across processes, unlike hash())."""
    return int.from_bytes(hashlib.blake2b(external_userid.encode(), digest_size=4).digest(), "big") % shards


def _card_to_json(relations: Iterable[Relation]) -> str:
    items = [
        {"u": r.userid, "t": r.createtime, "g": sorted(r.tags), "s": r.state}
        for r in sorted(relations, key=lambda r: r.userid)
    ]
    return json.dumps(items, separators=(",", ":"), ensure_ascii=False)


def _card_from_json(text: str) -> tuple[Relation, ...]:
    return tuple(Relation(i["u"], int(i["t"]), frozenset(i["g"]), i["s"]) for i in json.loads(text))


def _receipt_token(receipt: Receipt) -> str:
    return f"{int(receipt.at.timestamp()):010d}#{receipt.broadcast_id}"


def _receipt_from_token(token: str) -> Receipt:
    at, broadcast_id = token.split("#", 1)
    return Receipt(broadcast_id, datetime.fromtimestamp(int(at), UTC))


class BatchWriter:
    """Puts and deletes of any item kind on the data table, sent 25 per BatchWriteItem.

    Unprocessed items (DynamoDB's answer to a hot partition) are sent again after an exponential backoff with jitter;
    after `max_attempts` the writer raises, and since every write is a put or delete of a deterministic key the caller
    can simply run the whole page again.
    """

    def __init__(
        self,
        client: Any,
        table_name: str,
        max_attempts: int = 8,
        base_delay: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client, self.table_name = client, table_name
        self.max_attempts, self.base_delay, self.sleep = max_attempts, base_delay, sleep
        self.pending: list[dict[str, Any]] = []
        self.requests = self.retries = self.written = 0

    def put(self, item: Model) -> None:
        self._add({"PutRequest": {"Item": item.serialize()}})

    def delete(self, item: Model) -> None:
        self._add({"DeleteRequest": {"Key": {"pk": {"S": item.pk}, "sk": {"S": item.sk}}}})

    def _add(self, request: dict[str, Any]) -> None:
        self.pending.append(request)
        if len(self.pending) == BATCH_WRITE_MAX:
            self.flush()

    def flush(self) -> None:
        batch, self.pending = self.pending, []
        for attempt in range(self.max_attempts):
            if not batch:
                return
            if attempt:
                self.retries += 1
                self.sleep(random.uniform(0, self.base_delay * 2**attempt))
            self.requests += 1
            answer = self.client.batch_write_item(RequestItems={self.table_name: batch})
            unprocessed = answer.get("UnprocessedItems", {}).get(self.table_name, [])
            self.written += len(batch) - len(unprocessed)
            batch = unprocessed
        if batch:
            raise RuntimeError(f"{len(batch)} items still unprocessed after {self.max_attempts} attempts")

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.flush()


class CustomerStore:
    """The customer data of one tenant; every key it builds begins with that tenant's id."""

    def __init__(self, tenant_id: str, settings: Settings | None = None, shards: int = SHARDS) -> None:
        self.keys = TenantKeys(tenant_id)
        self.settings = bind_models(settings)
        self.shards = shards

    def writer(self) -> BatchWriter:
        """A batch writer on this stage's data table (use it as a context manager)."""
        return BatchWriter(shared_connection(self.settings).client, self.settings.table(resources.DATA))

    # keys

    def _cust(self, external_userid: str) -> str:
        return self.keys.key("cust", external_userid)

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

    @staticmethod
    def _relation_of(item: FollowItem) -> FollowRelation:
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

    # customer profiles

    def upsert_profile(self, profile: CustomerProfile) -> bool:
        """Write a profile unless a newer one is stored; False when it was older and nothing changed."""
        item = ProfileItem(
            self._cust(profile.external_userid),
            "profile",
            external_userid=profile.external_userid,
            name=profile.name or None,
            type=profile.type,
            gender=profile.gender,
            unionid=profile.unionid or None,
            corp_name=profile.corp_name or None,
            avatar=profile.avatar or None,
            event_time=profile.event_time,
        )
        try:
            item.save(condition=ProfileItem.pk.does_not_exist() | (ProfileItem.event_time <= profile.event_time))
        except PutError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def get_profile(self, external_userid: str) -> CustomerProfile | None:
        try:
            item = ProfileItem.get(self._cust(external_userid), "profile")
        except DoesNotExist:
            return None
        return CustomerProfile(
            item.external_userid,
            int(item.event_time),
            item.name or "",
            int(item.type or 0),
            int(item.gender or 0),
            item.unionid or "",
            item.corp_name or "",
            item.avatar or "",
        )

    # follow relations: events

    def get_follows(self, external_userid: str) -> list[FollowRelation]:
        """All relations of a customer, lost ones included."""
        items = FollowItem.query(self._cust(external_userid), FollowItem.sk.startswith("follow#"), consistent_read=True)
        return [self._relation_of(i) for i in items]

    def _get_follow(self, external_userid: str, userid: str) -> FollowRelation | None:
        try:
            return self._relation_of(
                FollowItem.get(self._cust(external_userid), f"follow#{userid}", consistent_read=True)
            )
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
            relations = [r for r in (_card_from_json(card.relations) if card else ()) if r.userid != relation.userid]
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
                            relations=_card_to_json(relations),
                            version=version + 1,
                        ),
                        condition=CardItem.pk.does_not_exist() if card is None else CardItem.version == version,
                    )
            except TransactWriteError as error:
                reasons = [r for r in (error.cancellation_reasons or []) if r is not None]
                if any(r.code == "ConditionalCheckFailed" for r in reasons):
                    continue
                raise
            return True
        raise RuntimeError(f"relation {relation.userid}/{relation.external_userid}: too much contention")

    # follow relations: full sync

    def put_follows(self, relations: Iterable[FollowRelation]) -> WriteStats:
        """Bulk-write relations from a sync page: skips those older than stored, keeps memberships and cards in step.

        Reads the stored relations and cards of the page with BatchGet, then writes with BatchWriteItem. Not atomic
        with events: an event for the same customer landing between the read and the write can be overwritten on the
        card (its relation item is kept); the next event or `rebuild_card` repairs it.
        """
        incoming = {(r.external_userid, r.userid): r for r in relations}
        stats = WriteStats()
        if not incoming:
            return stats
        stored = {
            (i.external_userid, i.userid): self._relation_of(i)
            for i in FollowItem.batch_get([(self._cust(e), f"follow#{u}") for e, u in incoming])
        }
        cards = {i.pk: i for i in CardItem.batch_get({(self._cust(e), "card") for e, _ in incoming})}
        fresh = []
        for key, relation in incoming.items():
            old = stored.get(key)
            if old is not None and old.event_time > relation.event_time:
                stats.skipped_older += 1
            else:
                fresh.append((old, relation))
        by_customer: dict[str, dict[str, Relation | None]] = {}
        with self.writer() as writer:
            for old, relation in fresh:
                writer.put(self._follow_item(relation))
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
                current = {r.userid: r for r in (_card_from_json(card.relations) if card else ())}
                for userid, change in changes.items():
                    current.pop(userid, None)
                    if change is not None:
                        current[userid] = change
                version = int(card.version) + 1 if card else 1
                writer.put(
                    CardItem(self._cust(ext), "card", relations=_card_to_json(current.values()), version=version)
                )
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
            item = CardItem(
                self._cust(external_userid), "card", relations=_card_to_json(relations), version=version + 1
            )
            try:
                item.save(condition=CardItem.pk.does_not_exist() if card is None else CardItem.version == version)
            except PutError as error:
                if error.cause_response_code == "ConditionalCheckFailedException":
                    continue
                raise
            return CustomerCard(external_userid, _card_from_json(item.relations))
        raise RuntimeError(f"card {external_userid}: too much contention")

    # cards and reach: what planning reads and writes

    def get_cards(self, external_userids: Iterable[str]) -> dict[str, CustomerCard]:
        """The cards of these customers with their receipts and do-not-disturb flag (BatchGet, 100 keys per call)."""
        wanted = set(external_userids)
        relations = {
            i.pk: _card_from_json(i.relations) for i in CardItem.batch_get([(self._cust(e), "card") for e in wanted])
        }
        reach = {i.pk: i for i in ReachItem.batch_get([(self._cust(e), "reach") for e in wanted])}
        cards = {}
        for ext in wanted:
            pk = self._cust(ext)
            item = reach.get(pk)
            receipts = (
                tuple(sorted((_receipt_from_token(t) for t in (item.receipts or ())), key=lambda r: r.at))
                if item
                else ()
            )
            cards[ext] = CustomerCard(ext, relations.get(pk, ()), receipts, bool(item and item.do_not_disturb))
        return cards

    def record_receipts(
        self, broadcast_id: str, at: datetime, external_userids: Iterable[str], workers: int = RECEIPT_WORKERS
    ) -> int:
        """Note that these customers get `broadcast_id` at `at`: one idempotent UpdateItem (a set ADD) each, run on
        `workers` threads because UpdateItem cannot be batched."""
        token = _receipt_token(Receipt(broadcast_id, at))

        def record(ext: str) -> None:
            ReachItem(self._cust(ext), "reach").update(actions=[ReachItem.receipts.add({token})])

        wanted = list(dict.fromkeys(external_userids))
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(wanted)))) as pool:
            list(pool.map(record, wanted))
        return len(wanted)

    def forget_receipts(self, external_userid: str, receipts: Iterable[Receipt]) -> None:
        """Delete receipts that can no longer matter (see `frequency.expired_receipts`)."""
        tokens = {_receipt_token(r) for r in receipts}
        if tokens:
            ReachItem(self._cust(external_userid), "reach").update(actions=[ReachItem.receipts.delete(tokens)])

    def set_do_not_disturb(self, external_userid: str, on: bool) -> None:
        ReachItem(self._cust(external_userid), "reach").update(actions=[ReachItem.do_not_disturb.set(on)])

    # employees, departments, tag catalogue

    def put_employees(self, employees: Iterable[Employee]) -> int:
        count = 0
        with self.writer() as batch:
            for e in employees:
                batch.put(
                    EmployeeItem(
                        self.keys.key("emp"),
                        e.userid,
                        name=e.name or None,
                        department_ids=list(e.department_ids) or None,
                        status=ACTIVE if e.active else "departed",
                        leader_in_departments=list(e.leader_in_departments) or None,
                        direct_leaders=list(e.direct_leaders) or None,
                    )
                )
                count += 1
        return count

    def list_employees(self) -> list[Employee]:
        return [
            Employee(
                i.sk,
                i.name or "",
                tuple(int(d) for d in i.department_ids or ()),
                i.status == ACTIVE,
                tuple(int(d) for d in i.leader_in_departments or ()),
                tuple(i.direct_leaders or ()),
            )
            for i in EmployeeItem.query(self.keys.key("emp"))
        ]

    def put_departments(self, departments: Iterable[Department]) -> None:
        with self.writer() as batch:
            for d in departments:
                batch.put(
                    DepartmentItem(
                        self.keys.key("dept"), f"{d.id:010d}", name=d.name or None, parent_id=d.parent_id, order=d.order
                    )
                )

    def list_departments(self) -> list[Department]:
        return [
            Department(int(i.sk), i.name or "", int(i.parent_id), int(i.order or 0))
            for i in DepartmentItem.query(self.keys.key("dept"))
        ]

    def put_tag_catalogue(self, tags: Iterable[CatalogueTag]) -> None:
        """Replace the tag catalogue with `tags` (tags no longer listed are deleted)."""
        tags = list(tags)
        keep = {f"{t.group_id}#{t.tag_id}" for t in tags}
        with self.writer() as batch:
            for old in TagItem.query(self.keys.key("tags")):
                if old.sk not in keep:
                    batch.delete(old)
            for t in tags:
                batch.put(
                    TagItem(
                        self.keys.key("tags"),
                        f"{t.group_id}#{t.tag_id}",
                        group_id=t.group_id,
                        group_name=t.group_name or None,
                        group_order=t.group_order,
                        tag_id=t.tag_id,
                        name=t.name,
                        order=t.order,
                    )
                )

    def list_tags(self) -> list[CatalogueTag]:
        items = TagItem.query(self.keys.key("tags"))
        tags = [
            CatalogueTag(i.group_id, i.tag_id, i.name, i.group_name or "", int(i.group_order or 0), int(i.order or 0))
            for i in items
        ]
        return sorted(tags, key=lambda t: (t.group_order, t.group_id, t.order, t.tag_id))

    # audience streams

    def audience_pages(
        self, source: AudienceSource, cursor: str | None = None, page_size: int = 1000
    ) -> Iterator[AudiencePage]:
        """Pages of candidate rows for `source`, sorted by sender, resumable from any page's cursor."""
        if source.kind is SourceKind.EXPLICIT:
            raise ValueError("an explicit audience has no stream: read its cards and use audience.explicit_rows")
        reader = _MergedReader(self._streams(source), _decode_cursor(cursor, source), page_size)
        while True:
            rows, done = reader.next_page()
            yield AudiencePage(rows, _encode_cursor(reader.positions, source), done)
            if done:
                return

    def _streams(self, source: AudienceSource) -> list[_Stream]:
        if source.kind in (SourceKind.TAGS, SourceKind.ALL):
            return [
                _Stream(f"t:{tag}:{shard}", 0, _tag_fetcher(self.keys.key("tag", tag, f"{shard:02d}")))
                for tag in source.keys
                for shard in range(self.shards)
            ]
        if source.kind is SourceKind.STATES:
            return [_Stream(f"s:{state}", 0, _state_fetcher(self.keys.key("state", state))) for state in source.keys]
        lo = f"{source.added_from or 0:010d}#"
        hi = f"{source.added_to:010d}#~" if source.added_to is not None else "~"
        return [
            _Stream(f"e:{userid}", group, _employee_fetcher(self.keys.key("emp", userid), lo, hi))
            for group, userid in enumerate(source.keys)
        ]


# ---- the k-way merge behind audience_pages ----

Fetch = Callable[[str | None, int], list[tuple[str, AudienceRow]]]
"""Reads up to `limit` (sort key, row) pairs after a sort key (None: from the start)."""


def _tag_fetcher(pk: str) -> Fetch:
    def fetch(after: str | None, limit: int) -> list[tuple[str, AudienceRow]]:
        condition = TagMemberItem.sk > after if after is not None else None
        items = TagMemberItem.query(pk, condition, limit=limit)
        return [(i.sk, AudienceRow(i.external_userid, i.userid)) for i in items]

    return fetch


def _state_fetcher(pk: str) -> Fetch:
    def fetch(after: str | None, limit: int) -> list[tuple[str, AudienceRow]]:
        condition = FollowItem.gsi2sk > after if after is not None else None
        items = FollowItem.by_state.query(pk, condition, limit=limit)
        return [(i.gsi2sk, AudienceRow(i.external_userid, i.userid)) for i in items]

    return fetch


def _employee_fetcher(pk: str, lo: str, hi: str) -> Fetch:
    def fetch(after: str | None, limit: int) -> list[tuple[str, AudienceRow]]:
        start = lo if after is None else after + "\x00"
        items = FollowItem.by_employee.query(pk, FollowItem.gsi1sk.between(start, hi), limit=limit)
        return [(i.gsi1sk, AudienceRow(i.external_userid, i.userid)) for i in items]

    return fetch


@dataclass
class _Stream:
    """One Query stream: rows after `after` in sort-key order, fetched in chunks."""

    name: str
    group: int
    fetch: Fetch
    after: str | None = None
    done: bool = False
    buffer: list[tuple[str, AudienceRow]] = field(default_factory=list)

    def head(self, chunk: int) -> tuple[str, AudienceRow] | None:
        if not self.buffer and not self.done:
            self.buffer = self.fetch(self.after, chunk)
            self.buffer.reverse()
            self.done = len(self.buffer) < chunk
        return self.buffer[-1] if self.buffer else None


class _MergedReader:
    """Merges streams by (group, sort key): tag shards and states interleave by userid#ext; employees follow one
    another. Positions record the last sort key consumed per stream, so any page's cursor resumes exactly there."""

    def __init__(self, streams: list[_Stream], positions: dict[str, str | None], page_size: int) -> None:
        self.streams = streams
        for stream in streams:
            stream.after = positions.get(stream.name)
            stream.done = stream.after == _DONE
        self.page_size = page_size
        self.chunk = max(50, min(1000, 2 * page_size // max(1, len(streams))))
        self.heap: list[tuple[int, str, int]] = []
        for index in range(len(streams)):
            self._push(index)

    def _push(self, index: int) -> None:
        stream = self.streams[index]
        head = stream.head(self.chunk)
        if head is None:
            stream.after, stream.done = _DONE, True
        else:
            heapq.heappush(self.heap, (stream.group, head[0], index))

    @property
    def positions(self) -> dict[str, str | None]:
        return {s.name: s.after for s in self.streams}

    def next_page(self) -> tuple[list[AudienceRow], bool]:
        rows: list[AudienceRow] = []
        while self.heap and len(rows) < self.page_size:
            _, sort_key, index = heapq.heappop(self.heap)
            stream = self.streams[index]
            rows.append(stream.buffer.pop()[1])
            stream.after = sort_key
            self._push(index)
        return rows, not self.heap


_DONE = "\uffff"


def _encode_cursor(positions: dict[str, str | None], source: AudienceSource) -> str:
    payload = {"src": [source.kind.value, *source.keys], "pos": {k: v for k, v in positions.items() if v is not None}}
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def _decode_cursor(cursor: str | None, source: AudienceSource) -> dict[str, str | None]:
    if not cursor:
        return {}
    payload = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    if payload["src"] != [source.kind.value, *source.keys]:
        raise ValueError("cursor belongs to another audience source")
    return payload["pos"]
