"""What the admin API reads about a tenant's customers beyond `CustomerStore`, and what the full sync writes in bulk.

Finding customers by name or remark prefix, and listing lost relations, need Query shapes the relation items cannot
give (their gsi1/gsi2 hold the employee and channel indexes). So every relation has a *find item* next to it in the
customer's partition, and one more when it has a remark:

| item | pk | sk | index keys |
|---|---|---|---|
| find (name) | `<t>#cust#<ext>` | `find#<userid>` | gsi1 `<t>#fname#<c>` / `<name>\\x1f<ext>\\x1f<userid>`; |
|  |  |  | gsi2 `<t>#lost` / `<lost_at:010d>#<ext>#<userid>` (lost relations only) |
| find (remark) | `<t>#cust#<ext>` | `findr#<userid>` | gsi1 `<t>#fremark#<c>` / `<remark>\\x1f<ext>\\x1f<userid>` |

`<c>` is the first character of the case-folded term, so a tenant's names spread over many index partitions and a
prefix search is one Query: `gsi1pk = <t>#fname#<first char> AND begins_with(gsi1sk, <prefix>)`. Find items are
candidates, not truth: every row read through them is checked against its relation item (a stale one, e.g. of a
remark changed by an event since, is dropped). The sync compares them with what is stored and writes those that
changed (`put_find_items`, also removing a remark's item when the remark went away); admin edits rewrite them, and the
event worker calls `refresh(external_userid)` after it changes a relation to keep them current between syncs.

The sync writes profiles the same way (`put_profiles`): only those whose stored item says something else (every
attribute but the event time, `domain.item_content`) and is not newer.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from pynamodb.attributes import UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib import resources
from chalicelib.config import Settings
from chalicelib.domain.audience import ALL_CUSTOMERS_TAG, AudienceSource, SourceKind
from chalicelib.domain.customer_listing import CustomerFilter, Source, TagMode, choose_source, matches
from chalicelib.domain.item_content import is_unchanged
from chalicelib.store.corp_directory import EmployeeItem
from chalicelib.store.customer_profiles import CustomerProfile, ProfileItem
from chalicelib.store.customers import CustomerStore
from chalicelib.store.dynamo import InvalidCursor, Page, decode_cursor, decode_key, encode_cursor
from chalicelib.store.keys import TenantKeys
from chalicelib.store.relations import LOST, FollowItem, FollowRelation, WriteStats, relation_of
from chalicelib.store.tables import bind_models, on_table

SEPARATOR = "\x1f"
NAME, REMARK = "name", "remark"
COUNT_WORKERS = 8
PROFILE_VOLATILE = ("event_time",)


class FindByTermIndex(GlobalSecondaryIndex["FindItem"]):
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class LostIndex(GlobalSecondaryIndex["FindItem"]):
    class Meta:
        index_name = "gsi2"
        projection = AllProjection()

    gsi2pk = UnicodeAttribute(hash_key=True)
    gsi2sk = UnicodeAttribute(range_key=True)


@on_table(resources.DATA)
class FindItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    by_term = FindByTermIndex()
    lost = LostIndex()
    external_userid = UnicodeAttribute()
    userid = UnicodeAttribute()


def search_term(text: str) -> str:
    """How names and remarks are compared: case-folded, trimmed, without the key separator."""
    return text.replace(SEPARATOR, "").strip().casefold()


@dataclass(frozen=True)
class Listed:
    """A page of relations matching a filter, with their customers' names, and the cursor after it."""

    rows: list[tuple[FollowRelation, str]]
    cursor: str | None


class CustomerDirectory:
    """Bulk profile writes, find items, lost marking and the reads of the admin API, for one tenant."""

    def __init__(self, tenant_id: str, settings: Settings | None = None) -> None:
        self.keys = TenantKeys(tenant_id)
        self.settings = bind_models(settings)
        self.store = CustomerStore(tenant_id, self.settings)

    def _cust(self, external_userid: str) -> str:
        return self.keys.key("cust", external_userid)

    def _term_key(self, kind: str, term: str) -> str:
        return self.keys.key(f"f{kind}", term[0])

    # writes

    def put_profiles(self, profiles: Iterable[CustomerProfile]) -> WriteStats:
        """Bulk-write profiles (BatchWriteItem) except those older than stored or unchanged (BatchGet first)."""
        incoming = {p.external_userid: p for p in profiles}
        stats = WriteStats()
        if not incoming:
            return stats
        stored = {i.external_userid: i for i in ProfileItem.batch_get([(self._cust(e), "profile") for e in incoming])}
        stats.read = len(stored)
        with self.store.writer() as batch:
            for ext, profile in incoming.items():
                item, desired = stored.get(ext), self.store.profile_item(profile)
                if item is not None and int(item.event_time) > profile.event_time:
                    stats.skipped_older += 1
                elif item is not None and is_unchanged(item.serialize(), desired.serialize(), PROFILE_VOLATILE):
                    stats.unchanged += 1
                else:
                    batch.put(desired)
                    stats.written += 1
        stats.items, stats.requests, stats.retries = batch.written, batch.requests, batch.retries
        return stats

    def _find_items(self, relation: FollowRelation, name: str) -> list[FindItem]:
        pk, ext, userid = self._cust(relation.external_userid), relation.external_userid, relation.userid
        items = []
        named = FindItem(pk, f"find#{userid}", external_userid=ext, userid=userid)
        term = search_term(name)
        if term:
            named.gsi1pk = self._term_key(NAME, term)
            named.gsi1sk = SEPARATOR.join((term, ext, userid))
        if not relation.active:
            named.gsi2pk = self.keys.key("lost")
            named.gsi2sk = f"{relation.lost_at or relation.event_time:010d}#{ext}#{userid}"
        items.append(named)
        remark = search_term(relation.remark)
        if remark:
            items.append(
                FindItem(
                    pk,
                    f"findr#{userid}",
                    gsi1pk=self._term_key(REMARK, remark),
                    gsi1sk=SEPARATOR.join((remark, ext, userid)),
                    external_userid=ext,
                    userid=userid,
                )
            )
        return items

    def index(self, relations: Iterable[FollowRelation], names: dict[str, str]) -> int:
        """Write the find items of these relations (names by external userid); returns items written."""
        count = 0
        with self.store.writer() as batch:
            for relation in relations:
                for item in self._find_items(relation, names.get(relation.external_userid, "")):
                    batch.put(item)
                    count += 1
        return count

    def put_find_items(self, relations: Iterable[FollowRelation], names: dict[str, str]) -> WriteStats:
        """The sync's find items of these relations (names by external userid): the stored ones read with BatchGet,
        those that differ written, a remark's item whose remark went away deleted."""
        desired = {
            (item.pk, item.sk): item
            for relation in relations
            for item in self._find_items(relation, names.get(relation.external_userid, ""))
        }
        stats = WriteStats()
        if not desired:
            return stats
        keys = {(item.pk, prefix + item.userid) for item in desired.values() for prefix in ("find#", "findr#")}
        stored = {(i.pk, i.sk): i for i in FindItem.batch_get(list(keys))}
        stats.read = len(stored)
        with self.store.writer() as batch:
            for key, item in desired.items():
                if is_unchanged(stored[key].serialize() if key in stored else None, item.serialize()):
                    stats.unchanged += 1
                else:
                    batch.put(item)
                    stats.written += 1
            for key, item in stored.items():
                if key not in desired:
                    batch.delete(item)
        stats.items, stats.requests, stats.retries = batch.written, batch.requests, batch.retries
        return stats

    def refresh(self, external_userid: str) -> None:
        """Rewrite a customer's find items from their stored relations and profile (after an event changed them)."""
        profile = self.store.get_profile(external_userid)
        relations = self.store.get_follows(external_userid)
        with self.store.writer() as batch:
            for relation in relations:
                if not search_term(relation.remark):
                    batch.delete(FindItem(self._cust(external_userid), f"findr#{relation.userid}"))
        self.index(relations, {external_userid: profile.name if profile else ""})

    def mark_lost(self, relation: FollowRelation, at: int, by: str) -> bool:
        """Mark a relation lost as of `at` unless newer data is stored (the store's event-time guard)."""
        lost = replace(relation, status=LOST, lost_at=at, lost_by=by, event_time=at)
        if not self.store.apply_follow(lost):
            return False
        profile = self.store.get_profile(relation.external_userid)
        self.index([lost], {relation.external_userid: profile.name if profile else ""})
        return True

    # reads

    def relations(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], FollowRelation]:
        """The stored relations for (external_userid, userid) pairs, with BatchGet."""
        keys = list(dict.fromkeys((self._cust(e), f"follow#{u}") for e, u in pairs))
        found = FollowItem.batch_get(keys) if keys else []
        relations = (relation_of(i) for i in found)
        return {(r.external_userid, r.userid): r for r in relations}

    def names(self, external_userids: Iterable[str]) -> dict[str, str]:
        """Customer names by external userid, with BatchGet."""
        keys = list(dict.fromkeys((self._cust(e), "profile") for e in external_userids))
        return {i.external_userid: i.name or "" for i in (ProfileItem.batch_get(keys) if keys else [])}

    def search(self, kind: str, prefix: str, limit: int, cursor: str | None) -> Page[tuple[str, str]]:
        """Relations whose customer name (kind NAME) or remark (REMARK) starts with `prefix`, in term order."""
        term = search_term(prefix)
        if not term:
            return Page([], None)
        page = FindItem.by_term.query(
            self._term_key(kind, term),
            FindItem.gsi1sk.startswith(term),
            limit=limit,
            last_evaluated_key=decode_key(cursor, ("gsi1pk", self._term_key(kind, term)), ("gsi1sk", term)),
        )
        rows = [(i.external_userid, i.userid) for i in page]
        return Page(rows, encode_cursor(page.last_evaluated_key))

    def lost_relations(self, limit: int, cursor: str | None, newest_first: bool = True) -> Page[tuple[str, str]]:
        """Lost relations by when they were lost."""
        page = FindItem.lost.query(
            self.keys.key("lost"),
            limit=limit,
            last_evaluated_key=decode_key(cursor, ("gsi2pk", self.keys.key("lost"))),
            scan_index_forward=not newest_first,
        )
        rows = [(i.external_userid, i.userid) for i in page]
        return Page(rows, encode_cursor(page.last_evaluated_key))

    def employee_relations(self, userid: str) -> Iterator[FollowRelation]:
        """An employee's active relations (gsi1), every page."""
        for item in FollowItem.by_employee.query(self.keys.key("emp", userid)):
            yield relation_of(item)

    def count_customers(self, userids: Iterable[str]) -> dict[str, int]:
        """Active relations per employee: a COUNT Query of gsi1 each, run on threads (reads the index partition)."""
        wanted = list(dict.fromkeys(userids))
        if not wanted:
            return {}

        def count(userid: str) -> int:
            return FollowItem.by_employee.count(self.keys.key("emp", userid))

        with ThreadPoolExecutor(max_workers=min(COUNT_WORKERS, len(wanted))) as pool:
            return dict(zip(wanted, pool.map(count, wanted), strict=True))

    def employee_items(self, userids: Iterable[str]) -> list[EmployeeItem]:
        """These employees' items (BatchGet), those that exist."""
        keys = [(self.keys.key("emp"), u) for u in dict.fromkeys(userids)]
        return list(EmployeeItem.batch_get(keys)) if keys else []

    def employees_page(self, limit: int, cursor: str | None) -> tuple[list[EmployeeItem], str | None]:
        """A page of the tenant's employees in userid order."""
        start = decode_key(cursor, ("pk", self.keys.key("emp")))
        page = EmployeeItem.query(self.keys.key("emp"), limit=limit, last_evaluated_key=start)
        items = list(page)
        return items, encode_cursor(page.last_evaluated_key)

    # listing

    def list_relations(self, f: CustomerFilter, limit: int, cursor: str | None) -> Listed:
        """A page of relations matching `f`: one Query of the index `choose_source` picks (never a Scan), then the
        relations and names of its rows with BatchGet, checked against the whole filter."""
        source = choose_source(f)
        state = {} if cursor is None else decode_cursor(cursor)
        if not isinstance(state, dict) or set(state) - {"s", "c"} or not isinstance(state.get("c", ""), str):
            raise InvalidCursor("invalid cursor")
        if state and state.get("s") != source.value:
            raise InvalidCursor("the cursor belongs to another filter")
        candidates = self._candidates(source, f, limit, state.get("c"))
        pairs = list(dict.fromkeys(candidates.items))
        relations = self.relations(pairs)
        names = self.names(e for e, _ in pairs)
        rows = []
        for pair in pairs:
            relation = relations.get(pair)
            if relation is not None and matches(f, relation, names.get(pair[0], "")):
                rows.append((relation, names.get(pair[0], "")))
        next_cursor = encode_cursor({"s": source.value, "c": candidates.cursor}) if candidates.cursor else None
        return Listed(rows, next_cursor)

    def _candidates(self, source: Source, f: CustomerFilter, limit: int, cursor: str | None) -> Page[tuple[str, str]]:
        if source is Source.NAME:
            return self.search(NAME, f.name_prefix, limit, cursor)
        if source is Source.REMARK:
            return self.search(REMARK, f.remark_prefix, limit, cursor)
        if source is Source.LOST:
            return self.lost_relations(limit, cursor)
        if source is Source.EMPLOYEES:
            stream = AudienceSource(SourceKind.EMPLOYEES, tuple(sorted(f.employees or ())), f.added_from, f.added_to)
        elif source is Source.STATE:
            stream = AudienceSource(SourceKind.STATES, (f.state or "",))
        elif source is Source.TAGS:
            tags = sorted(f.tags) if f.tag_mode is TagMode.ANY else sorted(f.tags)[:1]
            stream = AudienceSource(SourceKind.TAGS, tuple(tags))
        else:
            stream = AudienceSource(SourceKind.ALL, (ALL_CUSTOMERS_TAG,))
        try:
            page = next(self.store.audience_pages(stream, cursor, page_size=limit))
        except (ValueError, KeyError) as error:
            raise InvalidCursor(str(error)) from None
        return Page([(r.external_userid, r.userid) for r in page.rows], None if page.done else page.cursor)
