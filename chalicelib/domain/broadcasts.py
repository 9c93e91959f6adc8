"""A mass message (客户群发), its dispatch batches and its per-employee and per-customer results as plain values,
with the admin API's JSON view of each.

Statuses: draft → scheduled (send_at in the future) → planning → dispatching → following → done; cancelled from any
state before done.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.dispatch_state import BatchState


class Status:
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    PLANNING = "planning"
    DISPATCHING = "dispatching"
    FOLLOWING = "following"
    DONE = "done"
    CANCELLED = "cancelled"


STATUSES = (
    Status.DRAFT,
    Status.SCHEDULED,
    Status.PLANNING,
    Status.DISPATCHING,
    Status.FOLLOWING,
    Status.DONE,
    Status.CANCELLED,
)
COUNTERS = (
    "recipients",
    "senders",
    "batches",
    "batches_sent",
    "batches_failed",
    "rejected",
    "sent",
    "not_friend",
    "over_quota",
    "unsent",
    "employees_confirmed",
    "reminders",
)
"""Atomic counters on the broadcast: planned recipients/senders/batches; batches settled; recipients WeCom refused
at creation (fail_list), delivered (1), not a friend (2), over quota (3), never sent when following ended."""
BROADCAST_ID_PATTERN = re.compile(r"^bc[0-9]{13}[0-9a-f]{8}$")
"""A broadcast id: `bc`, the creation time in ms (13 digits) and 8 random hex digits."""


class InvalidBroadcast(ValueError):
    """The request names a field at fault."""


class BroadcastNotFound(LookupError):
    pass


class BroadcastConflict(RuntimeError):
    """The broadcast is not in a state that allows this."""


@dataclass(frozen=True)
class Broadcast:
    """A mass message as the admin created it and as the engine advanced it.

    `content` is `{"text": str, "attachments": [...]}`; `audience` the JSON form of an `AudienceFilter` (see
    `audience_from_json`) or, for `chat_type == "group"`, `{"chat_ids": [...]}` (empty: all of `sender`'s groups).
    `send_at` is epoch seconds. `counts` holds the `COUNTERS`; `skipped` the planner's skips by reason.
    """

    broadcast_id: str
    status: str
    chat_type: str
    content: Mapping[str, Any]
    audience: Mapping[str, Any]
    send_at: int
    allow_select: bool = False
    sender: str = ""
    created_at: int = 0
    created_by: str = ""
    updated_at: int = 0
    counts: Mapping[str, int] = field(default_factory=dict)
    skipped: Mapping[str, int] = field(default_factory=dict)
    follow_until: int = 0
    reason: str = ""
    version: int = 0

    def to_json(self) -> dict[str, Any]:
        """The admin API's view (no planner internals)."""
        return {
            "broadcast_id": self.broadcast_id,
            "status": self.status,
            "chat_type": self.chat_type,
            "content": dict(self.content),
            "audience": dict(self.audience),
            "sender": self.sender or None,
            "send_at": self.send_at,
            "allow_select": self.allow_select,
            "created_at": self.created_at,
            "created_by": self.created_by or None,
            "updated_at": self.updated_at,
            "counts": {name: int(self.counts.get(name, 0)) for name in COUNTERS},
            "skipped": dict(self.skipped),
            "follow_until": self.follow_until or None,
            "reason": self.reason or None,
        }


@dataclass(frozen=True)
class Batch:
    """A dispatch batch: at most WeCom's per-call maximum recipients of one sender, and its state."""

    broadcast_id: str
    batch_id: str
    sender: str
    sequence: int
    size: int
    parts: int
    state: BatchState
    attempt_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        s = self.state
        return {
            "batch_id": self.batch_id,
            "sender": self.sender,
            "sequence": self.sequence,
            "size": self.size,
            "status": s.status.value,
            "attempts": s.attempts,
            "msgid": s.msgid or None,
            "reason": s.reason or None,
            "rejected": len(s.fail_list),
        }


TASK_CONFIRMED = 2
"""get_groupmsg_task's status once the employee has confirmed (sent) the mass message; 0 means not yet."""


@dataclass(frozen=True)
class EmployeeResult:
    """One sender's part: the WeCom task(s), whether they confirmed, and per-status recipient counts."""

    userid: str
    msgids: tuple[str, ...] = ()
    task_status: int = 0
    send_time: int = 0
    counts: Mapping[str, int] = field(default_factory=dict)
    reminded_at: tuple[int, ...] = ()

    @property
    def confirmed(self) -> bool:
        return self.task_status == TASK_CONFIRMED

    def to_json(self) -> dict[str, Any]:
        return {
            "userid": self.userid,
            "confirmed": self.confirmed,
            "send_time": self.send_time or None,
            "counts": dict(self.counts),
            "reminders": len(self.reminded_at),
        }


@dataclass(frozen=True)
class CustomerResult:
    """One recipient's outcome: sent, not_friend, over_quota, rejected (WeCom's fail_list), unsent."""

    recipient: str
    userid: str
    status: str
    msgid: str = ""
    send_time: int = 0
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "recipient": self.recipient,
            "userid": self.userid,
            "status": self.status,
            "send_time": self.send_time or None,
            "reason": self.reason or None,
        }
