"""Who a mass message reaches: the audience filter, the customer's card, and the rule that picks one sender.

The store streams candidate rows `(external_userid, userid)` from a Query chosen by `choose_source`; the planner then
judges every row on the customer's card (all active follow relations, mass-message receipts, do-not-disturb), read
in bulk. A customer is reached exactly once: through the relation `choose_sender` picks, i.e. the relation added
first among those that match the filter (ties by userid). Choosing employees or departments narrows the relations
that may be picked, so the admin's choice decides the sender.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from chalicelib.domain import wecom_ids
from chalicelib.domain.wecom_ids import has_shape

ALL_CUSTOMERS_TAG = "_all"
"""The pseudo tag every active follow relation is a member of, so "all customers" is a sharded Query like a tag."""

MAX_EXPLICIT_RECIPIENTS = 50_000
"""An explicit list is resolved in one invocation (500 BatchGets), so it is capped."""
LIST_CAPS = {"tags": 50, "excluded_tags": 100, "states": 50, "senders": 2_000, "departments": 200}
"""The longest list each criterion takes. The audience's Queries grow with them (16 shard streams per tag, one per
state, one per sender), so a request's cost is bounded however large its body: 50 tags are 800 streams, and a
preview is allowed to viewers."""
_SHAPES = {
    "tags": wecom_ids.TAG_ID,
    "excluded_tags": wecom_ids.TAG_ID,
    "senders": wecom_ids.USERID,
    "states": wecom_ids.RELATION_STATE,
}
"""The shape each id list of a filter must have: ids become key parts of Queries, so their size is bounded."""


class SkipReason(StrEnum):
    """Why an audience row is not sent to; the preview counts each."""

    NO_ACTIVE_FOLLOW = "no_active_follow"
    """The customer's matching relations are all with departed employees, or a listed customer has no relation."""
    RECEIVING_QUOTA = "receiving_quota_reached"
    """WeCom's per-customer receiving quota for the period is used up."""
    QUIET_RULE = "quiet_rule"
    """The tenant's own rule (at most N per K days, or a minimum gap) forbids another message now."""
    DO_NOT_DISTURB = "do_not_disturb"
    """The customer is on the tenant's do-not-disturb list."""
    CHOSEN_BY_ANOTHER_SENDER = "chosen_by_another_sender"
    """This relation is not used: the customer is reached (or judged) through another employee's relation."""
    NOT_IN_AUDIENCE = "not_in_audience"
    """A candidate the card shows is outside the audience (other tags in all-mode, tag removed, relation lost).
    Not a skip: the preview does not count it among the skipped."""


class TagMatch(StrEnum):
    ANY = "any"
    ALL = "all"


@dataclass(frozen=True)
class Receipt:
    """A mass message a customer received or is planned to receive, at `at` (aware datetime)."""

    broadcast_id: str
    at: datetime


@dataclass(frozen=True)
class Relation:
    """An active follow relation as the audience sees it: who, since when (epoch s), which tags, which channel."""

    userid: str
    createtime: int
    tags: frozenset[str] = frozenset()
    state: str = ""


@dataclass(frozen=True)
class CustomerCard:
    """Everything planning needs about one customer, stored as one item so a page of them is one BatchGet."""

    external_userid: str
    relations: tuple[Relation, ...] = ()
    receipts: tuple[Receipt, ...] = ()
    do_not_disturb: bool = False


@dataclass(frozen=True)
class Employee:
    """A member of the corp who may own customer relations; a departed one can no longer send."""

    userid: str
    name: str = ""
    department_ids: tuple[int, ...] = ()
    active: bool = True
    leader_in_departments: tuple[int, ...] = ()
    direct_leaders: tuple[str, ...] = ()
    main_department: int = 0

    @property
    def main(self) -> int | None:
        """The main department: WeCom's `main_department`, else (stored before it was read) the first one listed."""
        if self.main_department:
            return self.main_department
        return self.department_ids[0] if self.department_ids else None


@dataclass(frozen=True)
class Department:
    id: int
    name: str = ""
    parent_id: int = 0
    order: int = 0


@dataclass(frozen=True)
class AudienceRow:
    """A candidate from the audience stream: a customer through one employee's relation."""

    external_userid: str
    userid: str


class InvalidAudience(ValueError):
    """An audience the admin may not send to as given; the message names the field."""


@dataclass(frozen=True)
class AudienceFilter:
    """Whom to reach. Criteria combine with AND; an empty filter is an error unless `all_customers` is set.

    `added_from`/`added_to` bound the relation's createtime (epoch seconds, inclusive). `senders` are employees the
    admin chose (departments are resolved into them by `resolve_senders`). `external_userids` is an explicit list:
    other criteria still apply to the relations on the cards of the listed customers.
    """

    all_customers: bool = False
    tags: frozenset[str] = frozenset()
    tag_match: TagMatch = TagMatch.ANY
    excluded_tags: frozenset[str] = frozenset()
    senders: frozenset[str] = frozenset()
    departments: frozenset[int] = frozenset()
    added_from: int | None = None
    added_to: int | None = None
    states: frozenset[str] = frozenset()
    external_userids: tuple[str, ...] = field(default=())

    def validate(self) -> None:
        """Raise `InvalidAudience` for a filter that is empty, contradictory or too large."""
        narrowing = self.tags or self.senders or self.departments or self.states or self.external_userids
        narrowing = narrowing or self.added_from is not None or self.added_to is not None or self.excluded_tags
        if not self.all_customers and not narrowing:
            raise InvalidAudience("audience: give a criterion, or set all_customers to reach every customer")
        if self.all_customers and (self.tags or self.external_userids):
            raise InvalidAudience("audience.all_customers: cannot be combined with tags or external_userids")
        if self.tags & self.excluded_tags:
            raise InvalidAudience(f"audience.excluded_tags: also in tags: {sorted(self.tags & self.excluded_tags)}")
        if self.added_from is not None and self.added_to is not None and self.added_from > self.added_to:
            raise InvalidAudience("audience.added_from: after added_to")
        if len(self.external_userids) > MAX_EXPLICIT_RECIPIENTS:
            raise InvalidAudience(f"audience.external_userids: at most {MAX_EXPLICIT_RECIPIENTS} customers")
        for name, cap in LIST_CAPS.items():
            if len(getattr(self, name)) > cap:
                raise InvalidAudience(f"audience.{name}: at most {cap} items")
        if ALL_CUSTOMERS_TAG in self.tags | self.excluded_tags:
            raise InvalidAudience(f"audience.tags: {ALL_CUSTOMERS_TAG!r} is reserved")

    def matches(self, relation: Relation) -> bool:
        """Whether this relation puts its customer in the audience (the explicit list is checked by the caller)."""
        if self.senders and relation.userid not in self.senders:
            return False
        if self.states and relation.state not in self.states:
            return False
        if self.added_from is not None and relation.createtime < self.added_from:
            return False
        if self.added_to is not None and relation.createtime > self.added_to:
            return False
        if relation.tags & self.excluded_tags:
            return False
        if not self.tags:
            return True
        if self.tag_match is TagMatch.ALL:
            return self.tags <= relation.tags
        return bool(self.tags & relation.tags)


def choose_sender(card: CustomerCard, audience: AudienceFilter, inactive_senders: frozenset[str] = frozenset()) -> str:
    """The employee who sends to this customer: the earliest-added matching relation; "" when none matches."""
    candidates = [r for r in card.relations if r.userid not in inactive_senders and audience.matches(r)]
    if not candidates:
        return ""
    return min(candidates, key=lambda r: (r.createtime, r.userid)).userid


class SourceKind(StrEnum):
    EXPLICIT = "explicit"
    EMPLOYEES = "employees"
    STATES = "states"
    TAGS = "tags"
    ALL = "all"


@dataclass(frozen=True)
class AudienceSource:
    """Which Query streams deliver the candidates, each sorted so that rows arrive grouped by sender.

    TAGS/ALL: tag-membership shards of `keys` (tag ids), merged by `userid#external_userid`. STATES: the by-channel
    index partitions of `keys`, merged the same way. EMPLOYEES: one employee's relations after another, `keys` in
    order, bounded by added time. EXPLICIT: no stream; rows come from `explicit_rows`.
    """

    kind: SourceKind
    keys: tuple[str, ...] = ()
    added_from: int | None = None
    added_to: int | None = None


def choose_source(audience: AudienceFilter) -> AudienceSource:
    """The narrowest Query that yields every relation that can match; the cards judge the rest."""
    if audience.external_userids:
        return AudienceSource(SourceKind.EXPLICIT)
    if audience.senders:
        return AudienceSource(
            SourceKind.EMPLOYEES, tuple(sorted(audience.senders)), audience.added_from, audience.added_to
        )
    if audience.states:
        return AudienceSource(SourceKind.STATES, tuple(sorted(audience.states)))
    if audience.tags:
        tags = sorted(audience.tags)
        return AudienceSource(SourceKind.TAGS, tuple(tags[:1] if audience.tag_match is TagMatch.ALL else tags))
    return AudienceSource(SourceKind.ALL, (ALL_CUSTOMERS_TAG,))


def resolve_senders(
    audience: AudienceFilter, employees: Iterable[Employee], departments: Iterable[Department]
) -> AudienceFilter:
    """Turn chosen departments (with their sub-departments) into chosen employees, keeping chosen employees."""
    if not audience.departments:
        return audience
    children: dict[int, list[int]] = {}
    for dept in departments:
        children.setdefault(dept.parent_id, []).append(dept.id)
    wanted: set[int] = set()
    todo = list(audience.departments)
    while todo:
        dept_id = todo.pop()
        if dept_id not in wanted:
            wanted.add(dept_id)
            todo.extend(children.get(dept_id, ()))
    chosen = {e.userid for e in employees if wanted.intersection(e.department_ids)}
    return replace(audience, senders=frozenset(audience.senders | chosen), departments=frozenset())


def explicit_rows(
    audience: AudienceFilter, cards: Mapping[str, CustomerCard], inactive_senders: frozenset[str] = frozenset()
) -> list[AudienceRow]:
    """Rows for an explicit list, sorted by (sender, customer); customers with no usable relation get sender ""."""
    rows = {
        AudienceRow(ext, choose_sender(cards.get(ext, CustomerCard(ext)), audience, inactive_senders))
        for ext in audience.external_userids
    }
    return sorted(rows, key=lambda r: (r.userid, r.external_userid))


def is_sender_grouped(rows: Sequence[AudienceRow]) -> bool:
    """Whether rows are sorted by sender (what every source guarantees and the planner relies on)."""
    return all(a.userid <= b.userid for a, b in itertools.pairwise(rows))


def audience_from_json(data: Mapping[str, object]) -> AudienceFilter:
    """The filter from its JSON form (what the admin API accepts and the broadcast stores); unknown keys are refused."""
    known = {
        "all_customers",
        "tags",
        "tag_match",
        "excluded_tags",
        "senders",
        "departments",
        "added_from",
        "added_to",
        "states",
        "external_userids",
    }
    unknown = set(data) - known
    if unknown:
        raise InvalidAudience(f"audience: unknown fields {sorted(unknown)}")

    def capped(name: str, cap: int, what: str = "a list of strings") -> list:
        value = data.get(name) or []
        if not isinstance(value, list):
            raise InvalidAudience(f"audience.{name}: must be {what}")
        if len(value) > cap:
            raise InvalidAudience(f"audience.{name}: at most {cap} items, {len(value)} given")
        return value

    def strings(name: str) -> frozenset[str]:
        value = capped(name, LIST_CAPS[name])
        if not all(has_shape(_SHAPES[name], v) for v in value):
            raise InvalidAudience(f"audience.{name}: must be a list of strings matching {_SHAPES[name]}")
        return frozenset(value)

    def optional_int(name: str) -> int | None:
        value = data.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise InvalidAudience(f"audience.{name}: must be an integer (epoch seconds)")
        return value

    departments = capped("departments", LIST_CAPS["departments"], "a list of department ids")
    if not all(isinstance(d, int) and not isinstance(d, bool) for d in departments):
        raise InvalidAudience("audience.departments: must be a list of department ids")
    try:
        match = TagMatch(data.get("tag_match") or TagMatch.ANY.value)
    except ValueError:
        raise InvalidAudience("audience.tag_match: must be any or all") from None
    explicit = capped("external_userids", MAX_EXPLICIT_RECIPIENTS)
    if not all(has_shape(wecom_ids.EXTERNAL_USERID, e) for e in explicit):
        raise InvalidAudience(
            f"audience.external_userids: must be a list of strings matching {wecom_ids.EXTERNAL_USERID}"
        )
    audience = AudienceFilter(
        all_customers=bool(data.get("all_customers")),
        tags=strings("tags"),
        tag_match=match,
        excluded_tags=strings("excluded_tags"),
        senders=strings("senders"),
        departments=frozenset(departments),
        added_from=optional_int("added_from"),
        added_to=optional_int("added_to"),
        states=strings("states"),
        external_userids=tuple(dict.fromkeys(explicit)),
    )
    audience.validate()
    return audience


def audience_to_json(audience: AudienceFilter) -> dict[str, object]:
    """The JSON form of a filter, with only the criteria that are set."""
    data: dict[str, object] = {
        "all_customers": audience.all_customers or None,
        "tags": sorted(audience.tags) or None,
        "tag_match": audience.tag_match.value if audience.tags else None,
        "excluded_tags": sorted(audience.excluded_tags) or None,
        "senders": sorted(audience.senders) or None,
        "departments": sorted(audience.departments) or None,
        "added_from": audience.added_from,
        "added_to": audience.added_to,
        "states": sorted(audience.states) or None,
        "external_userids": list(audience.external_userids) or None,
    }
    return {k: v for k, v in data.items() if v is not None}
