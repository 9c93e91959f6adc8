"""Beacons from a shared page or mini-program: checking a batch event by event, and folding it into one view update.

A batch is `{"share", "viewer"?, "session", "events": [...]}`. Its shape is all-or-nothing (`BadBatch`: 400);
its events are judged one by one, so one bad event (unknown type, a time in the future or too old, a duplicate
sequence number, a field out of range) is rejected with its reason and the others are kept. The kept events of a
batch fold into one `ViewDelta` — dwell, deepest scroll, actions, whether it opened or left the view — which the
ingest worker writes as one update of the view, never one write per heartbeat. `batch_key` names the set of
sequence numbers, so a replayed batch is recognised and counted once.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

OPEN, HEARTBEAT, SCROLL, ACTION, LEAVE = "open", "heartbeat", "scroll", "action", "leave"
EVENT_TYPES = frozenset({OPEN, HEARTBEAT, SCROLL, ACTION, LEAVE})
CALL, ADD_WECOM, LEAVE_CONTACT, OPEN_LINK, FORWARD = "call", "add_wecom", "leave_contact", "open_link", "forward"
ACTIONS = frozenset({CALL, ADD_WECOM, LEAVE_CONTACT, OPEN_LINK, FORWARD})

MAX_BATCH_BYTES = 16 * 1024
MAX_EVENTS = 60
MAX_SEQ = 1_000_000
MAX_FUTURE_MS = 60_000
MAX_AGE_MS = 24 * 3600 * 1000
MAX_VISIBLE_MS = 120_000
DEPTH_STEP = 10
SESSION = re.compile(r"[A-Za-z0-9_-]{8,64}")
BATCH_FIELDS = frozenset({"share", "viewer", "session", "events"})
EVENT_FIELDS = frozenset({"seq", "type", "at", "visible_ms", "depth", "action"})


class BadBatch(ValueError):
    """A body that is not a beacon batch at all (answered 400 as a whole)."""


@dataclass(frozen=True)
class Event:
    """One accepted event."""

    seq: int
    type: str
    at: int
    visible_ms: int = 0
    depth: int = 0
    action: str = ""


@dataclass(frozen=True)
class CheckedBatch:
    """A batch whose shape is right: its tokens (unverified here), session, accepted events and rejections."""

    share: str
    viewer: str
    session: str
    events: tuple[Event, ...]
    rejected: tuple[dict[str, Any], ...]


@dataclass
class ViewDelta:
    """What a batch adds to its view: written as one update."""

    opened: bool = False
    left: bool = False
    first_at: int = 0
    last_at: int = 0
    dwell_ms: int = 0
    depth: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    events: int = 0


def check_batch(body: Any, now_ms: int) -> CheckedBatch:
    """The batch with each event accepted or rejected with a reason; BadBatch when the body is not a batch."""
    if not isinstance(body, dict):
        raise BadBatch("the body must be a JSON object")
    unknown = set(body) - BATCH_FIELDS
    if unknown:
        raise BadBatch(f"unknown fields: {', '.join(sorted(unknown))}")
    share, viewer, session, events = body.get("share"), body.get("viewer", ""), body.get("session"), body.get("events")
    if not isinstance(share, str) or not share:
        raise BadBatch("'share' must be the share token")
    if viewer is None:
        viewer = ""
    if not isinstance(viewer, str):
        raise BadBatch("'viewer' must be a viewer token")
    if not isinstance(session, str) or not SESSION.fullmatch(session):
        raise BadBatch("'session' must be 8 to 64 of A-Z a-z 0-9 _ -")
    if not isinstance(events, list) or not events:
        raise BadBatch("'events' must be a non-empty list")
    if len(events) > MAX_EVENTS:
        raise BadBatch(f"at most {MAX_EVENTS} events in a batch")
    accepted: list[Event] = []
    rejected: list[dict[str, Any]] = []
    seen: set[int] = set()
    for raw in events:
        seq = raw.get("seq") if isinstance(raw, dict) else None
        seq = seq if _is_int(seq) and 0 <= seq <= MAX_SEQ else None
        reason = _problem(raw, now_ms) if seq is not None else "'seq' must be an integer from 0"
        if reason is None and seq in seen:
            reason = "duplicate seq in the batch"
        if reason is not None:
            rejected.append({"seq": seq, "reason": reason})
            continue
        seen.add(seq)
        accepted.append(_event(raw))
    return CheckedBatch(share, viewer, session, tuple(accepted), tuple(rejected))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _problem(raw: dict[str, Any], now_ms: int) -> str | None:
    """Why this event is rejected, or None."""
    unknown = set(raw) - EVENT_FIELDS
    if unknown:
        return f"unknown fields: {', '.join(sorted(unknown))}"
    kind, at = raw.get("type"), raw.get("at")
    if kind not in EVENT_TYPES:
        return "unknown event type"
    if not _is_int(at) or at <= 0:
        return "'at' must be epoch milliseconds"
    if at > now_ms + MAX_FUTURE_MS:
        return "timestamp in the future"
    if at < now_ms - MAX_AGE_MS:
        return "timestamp too old"
    if kind in (HEARTBEAT, LEAVE):
        visible = raw.get("visible_ms", 0)
        if not _is_int(visible) or not 0 <= visible <= MAX_VISIBLE_MS:
            return f"'visible_ms' must be 0 to {MAX_VISIBLE_MS}"
    if kind == SCROLL:
        depth = raw.get("depth")
        if not _is_int(depth) or not 0 <= depth <= 100:
            return "'depth' must be 0 to 100"
    if kind == ACTION and raw.get("action") not in ACTIONS:
        return "unknown action"
    return None


def _event(raw: dict[str, Any]) -> Event:
    kind = raw["type"]
    return Event(
        seq=raw["seq"],
        type=kind,
        at=raw["at"],
        visible_ms=raw.get("visible_ms", 0) if kind in (HEARTBEAT, LEAVE) else 0,
        depth=raw["depth"] if kind == SCROLL else 0,
        action=raw["action"] if kind == ACTION else "",
    )


def fold(events: tuple[Event, ...] | list[Event]) -> ViewDelta:
    """Sessionise a batch: the view's added dwell (visible time), deepest scroll, actions, open and leave."""
    delta = ViewDelta()
    for event in events:
        delta.events += 1
        delta.first_at = min(delta.first_at or event.at, event.at)
        delta.last_at = max(delta.last_at, event.at)
        delta.dwell_ms += event.visible_ms
        if event.type == OPEN:
            delta.opened = True
        elif event.type == LEAVE:
            delta.left = True
        elif event.type == SCROLL:
            delta.depth = max(delta.depth, event.depth)
        elif event.type == ACTION:
            delta.actions[event.action] += 1
    return delta


def depth_mark(depth: int) -> int:
    """Scroll depth rounded down to DEPTH_STEP: the view keeps a set of marks, whose maximum is its depth (adding a
    mark twice changes nothing, so the write needs no read)."""
    return depth // DEPTH_STEP * DEPTH_STEP


def batch_key(events: tuple[Event, ...] | list[Event]) -> str:
    """A short name of a batch's set of sequence numbers: the same events sent twice have the same key."""
    seqs = ",".join(str(s) for s in sorted(e.seq for e in events))
    return hashlib.sha256(seqs.encode()).hexdigest()[:16]


def view_id(share_token: str, session: str) -> str:
    """One view per share link and client session."""
    return hashlib.sha256(f"{share_token}\n{session}".encode()).hexdigest()[:24]
