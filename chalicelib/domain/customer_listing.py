"""Listing customers for the admin API, on plain data: the filter, which index answers it, and whether a relation
read through that index matches the whole filter.

Every listing is a Query of one index chosen by `choose_source` (the most selective the filter allows); the other
criteria are checked on each relation read (like a DynamoDB filter expression), so a page may hold fewer rows than
asked for while its cursor still moves on. Rows are follow relations: a customer with two employees appears twice
unless the filter names one of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

MAX_FILTER_TAGS = 20
MAX_FILTER_EMPLOYEES = 100


class TagMode(StrEnum):
    ANY = "any"
    ALL = "all"
    NONE = "none"


class Source(StrEnum):
    NAME = "name"
    REMARK = "remark"
    LOST = "lost"
    EMPLOYEES = "employees"
    STATE = "state"
    TAGS = "tags"
    ALL = "all"


class InvalidListing(ValueError):
    """A filter that cannot be answered; the message names the parameter."""


class ListedRelation(Protocol):
    """What the filter reads of a relation."""

    userid: str
    createtime: int
    tag_ids: frozenset[str]
    state: str
    remark: str

    @property
    def active(self) -> bool: ...


@dataclass(frozen=True)
class CustomerFilter:
    """Criteria combine with AND. `employees` are resolved from the employee and department parameters (and pinned to
    the caller's own employee for a sales key). `lost` None lists both, True only lost, False only active."""

    tags: frozenset[str] = frozenset()
    tag_mode: TagMode = TagMode.ANY
    employees: frozenset[str] | None = None
    state: str | None = None
    added_from: int | None = None
    added_to: int | None = None
    lost: bool | None = False
    name_prefix: str = ""
    remark_prefix: str = ""

    def validate(self) -> None:
        if len(self.tags) > MAX_FILTER_TAGS:
            raise InvalidListing(f"tag: at most {MAX_FILTER_TAGS} tags")
        if self.employees is not None and len(self.employees) > MAX_FILTER_EMPLOYEES:
            raise InvalidListing(f"department: resolves to more than {MAX_FILTER_EMPLOYEES} employees; add employee")
        if self.added_from is not None and self.added_to is not None and self.added_from > self.added_to:
            raise InvalidListing("added_from: after added_to")
        if self.tag_mode is not TagMode.ANY and not self.tags:
            raise InvalidListing("tag_match: needs tag")
        if self.name_prefix and self.remark_prefix:
            raise InvalidListing("name_prefix and remark_prefix: give one of them")


def choose_source(f: CustomerFilter) -> Source:
    """The index that reads the fewest relations for this filter.

    Prefix searches and lost relations have their own indexes; the employee and channel indexes hold active
    relations only, as do tag memberships; "none of these tags" cannot be a Query of the tags, so it reads everyone.
    """
    if f.name_prefix:
        return Source.NAME
    if f.remark_prefix:
        return Source.REMARK
    if f.lost:
        return Source.LOST
    if f.employees is not None:
        return Source.EMPLOYEES
    if f.state is not None:
        return Source.STATE
    if f.tags and f.tag_mode is not TagMode.NONE:
        return Source.TAGS
    return Source.ALL


def _starts(text: str, prefix: str) -> bool:
    return text.strip().casefold().startswith(prefix.strip().casefold())


def matches(f: CustomerFilter, relation: ListedRelation, name: str) -> bool:
    """Whether a relation (and its customer's name) satisfies the whole filter."""
    if f.lost is not None and relation.active == f.lost:
        return False
    if f.employees is not None and relation.userid not in f.employees:
        return False
    if f.state is not None and relation.state != f.state:
        return False
    if f.added_from is not None and relation.createtime < f.added_from:
        return False
    if f.added_to is not None and relation.createtime > f.added_to:
        return False
    if f.tags:
        shared = f.tags & relation.tag_ids
        wanted = {TagMode.ANY: bool(shared), TagMode.ALL: shared == f.tags, TagMode.NONE: not shared}
        if not wanted[f.tag_mode]:
            return False
    if f.name_prefix and not _starts(name, f.name_prefix):
        return False
    return not (f.remark_prefix and not _starts(relation.remark, f.remark_prefix))
