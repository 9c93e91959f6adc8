"""Rules of the full sync, on plain data: reading WeCom's directory answers, splitting the employees into lanes and
chunks, finding who left, deciding which stored relations disappeared from WeCom, and when an invocation must hand
over.

A sync splits the employees with customer-contact permission into `lanes` consecutive userid ranges read in
parallel; each lane walks its employees in userid order, `chunk_size` at a time (the batch API takes at most 100
userids per call). The sync writes only what changed, so an unchanged relation keeps its stored event time: the run
keeps the set of relations WeCom returned for the chunk instead, and after a chunk has been read completely, a stored
active relation of one of its employees that WeCom did not return and no event touched since the run started is gone
(reconciliation marks it lost). Newer event data is never overwritten, because every write goes through the store's
event-time guard.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.audience import Department, Employee

RESERVE_MS = 5_000
"""Time an invocation keeps for publishing its continuation and finishing up; a page never starts inside it."""


def employee_from_user(user: Mapping[str, Any]) -> Employee:
    """An employee from a `user/list` or `user/get` entry (with its leadership, where WeCom gives it)."""
    departments = tuple(int(d) for d in user.get("department") or ())
    leader_flags = list(user.get("is_leader_in_dept") or ())
    leads = tuple(d for d, flag in zip(departments, leader_flags, strict=False) if flag)
    return Employee(
        userid=str(user["userid"]),
        name=str(user.get("name") or ""),
        department_ids=departments,
        active=True,
        leader_in_departments=leads,
        direct_leaders=tuple(str(u) for u in user.get("direct_leader") or ()),
        main_department=int(user.get("main_department") or 0),
    )


def department_from(entry: Mapping[str, Any]) -> Department:
    """A department from a `department/list` entry."""
    return Department(
        int(entry["id"]), str(entry.get("name") or ""), int(entry.get("parentid") or 0), int(entry.get("order") or 0)
    )


def top_departments(departments: Iterable[Department]) -> list[int]:
    """The departments whose parent is outside the visible ones: listing each with its children covers everyone."""
    ids = {d.id for d in departments}
    return sorted(d.id for d in departments if d.parent_id not in ids)


def departed(stored: Iterable[Employee], present: Iterable[str]) -> list[Employee]:
    """Employees stored as active that WeCom no longer lists: they resigned or left the app's visibility."""
    here = set(present)
    return [e for e in stored if e.active and e.userid not in here]


def next_chunk(follow_users: Iterable[str], after: str, chunk_size: int, upto: str = "") -> list[str]:
    """The next `chunk_size` employees in userid order after `after` ("" from the start) and up to `upto` included
    ("" to the end)."""
    return sorted(u for u in set(follow_users) if u > after and (not upto or u <= upto))[:chunk_size]


def lane_bounds(follow_users: Iterable[str], lanes: int) -> list[tuple[str, str]]:
    """The follow users split into at most `lanes` consecutive userid ranges of (nearly) equal head count, as
    (after, upto) pairs for `next_chunk`. The first range is open at the start and the last at the end, so an employee
    who gains customer-contact permission during the run still falls in a lane."""
    users = sorted(set(follow_users))
    count = max(1, min(lanes, len(users)))
    bounds: list[tuple[str, str]] = []
    for lane in range(count):
        after = bounds[-1][1] if bounds else ""
        upto = users[(lane + 1) * len(users) // count - 1] if lane < count - 1 else ""
        bounds.append((after, upto))
    return bounds


def is_missing(active: bool, event_time: int, run_started: int) -> bool:
    """A stored relation of a completely read employee that this run neither saw nor an event touched since."""
    return active and event_time < run_started


def needs_reconciliation(previous_status: str | None) -> bool:
    """Whether a run must look for vanished relations: only after a completed load. The onboarding load has nothing
    to reconcile (every relation in the store came from WeCom's own events since), and skipping it saves a Query per
    employee."""
    return previous_status == "done"


def may_start_page(remaining_ms: int, slowest_page_ms: float, reserve_ms: int = RESERVE_MS) -> bool:
    """Whether another page fits before the reserve: twice the slowest page so far, to be safe."""
    return remaining_ms - 2 * slowest_page_ms > reserve_ms


@dataclass(frozen=True)
class SyncCursor:
    """Where a lane of a run is: the last employee whose customers were read completely, the chunk being read (empty
    between chunks), WeCom's cursor inside it, and the lane's last employee ("" for no end). Travels in the lane's
    messages."""

    after: str = ""
    chunk: tuple[str, ...] = ()
    wecom_cursor: str = ""
    upto: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"after": self.after, "chunk": list(self.chunk), "wecom_cursor": self.wecom_cursor, "upto": self.upto}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> SyncCursor:
        data = data or {}
        return cls(
            str(data.get("after", "")),
            tuple(str(u) for u in data.get("chunk") or ()),
            str(data.get("wecom_cursor", "")),
            str(data.get("upto", "")),
        )


def chunk_done(cursor: SyncCursor) -> SyncCursor:
    """The cursor after its chunk has been read and reconciled."""
    return SyncCursor(after=cursor.chunk[-1] if cursor.chunk else cursor.after, upto=cursor.upto)


def percent(done_users: int, total_users: int) -> float:
    """Progress by employees read, for the status page (customers per employee vary, so it is approximate)."""
    return round(100.0 * done_users / total_users, 1) if total_users else 100.0


def position(follow_users: Sequence[str], after: str) -> int:
    """How many of the (sorted) follow users are done when `after` is the last one done."""
    return sum(1 for u in follow_users if u <= after) if after else 0
