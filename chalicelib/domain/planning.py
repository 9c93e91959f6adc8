"""Planning a mass message: judge each audience row once, and cut the reached customers into dispatch batches.

`plan_page` is a pure step: (context, state, a page of rows, the cards of those customers) → (decisions, batch parts,
closed batches, next state). The worker pages through the audience stream, reads the page's cards with one BatchGet
per 100 customers, calls `plan_page`, writes parts, closed batches and receipts with conditional puts, then saves
the source cursor together with `PlanState.to_json()`. Rerunning a page from a saved state produces the same ids and
the same contents, so a crash between the writes and the checkpoint duplicates nothing.

Rows arrive grouped by sender (every source sorts by userid), so one batch is open at a time: it closes when the
sender changes, when it holds `max_per_batch` recipients, or at the end. A batch is written in parts (one per page it
spans); its id is `batch_id(broadcast, sender, sequence)` with the sender's sequence number starting at 0.

Planning runs in shards (`domain.plan_shards`): contiguous ranges of sender userids planned in parallel, each with its
own cursor and `PlanState`. A sender's rows all fall in one shard, so its batches are cut exactly as one planner would
cut them; a customer followed by senders of two shards is judged by both from the same card (this broadcast's own
receipt does not count against it), so both agree on who reaches it, and the shards' totals add up to one planner's
(`PlanTotals.combine`).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property
from typing import Any

from chalicelib.domain.audience import (
    AudienceFilter,
    AudienceRow,
    CustomerCard,
    SkipReason,
    choose_sender,
    is_sender_grouped,
)
from chalicelib.domain.frequency import FrequencyPolicy, check_frequency
from chalicelib.domain.wecom_limits import MSG_TEMPLATE_MAX_EXTERNAL_USERIDS


def batch_id(broadcast_id: str, sender: str, sequence: int) -> str:
    """The deterministic id of a sender's `sequence`-th batch of a broadcast."""
    digest = hashlib.sha256(f"{broadcast_id}\x00{sender}\x00{sequence}".encode()).hexdigest()[:24]
    return f"{broadcast_id}.{digest}"


@dataclass(frozen=True)
class PlanContext:
    """What stays fixed while a broadcast is planned."""

    broadcast_id: str
    audience: AudienceFilter
    send_at: datetime
    frequency: FrequencyPolicy = field(default_factory=FrequencyPolicy)
    inactive_senders: frozenset[str] = frozenset()
    max_per_batch: int = MSG_TEMPLATE_MAX_EXTERNAL_USERIDS

    @cached_property
    def listed(self) -> frozenset[str]:
        """The explicit list as a set."""
        return frozenset(self.audience.external_userids)

    def __post_init__(self) -> None:
        if not 1 <= self.max_per_batch <= MSG_TEMPLATE_MAX_EXTERNAL_USERIDS:
            raise ValueError(f"max_per_batch must be within 1..{MSG_TEMPLATE_MAX_EXTERNAL_USERIDS}")


@dataclass(frozen=True)
class Decision:
    """The verdict on one audience row: planned (`skip` is None) or skipped with a reason."""

    row: AudienceRow
    skip: SkipReason | None = None


@dataclass(frozen=True)
class BatchPart:
    """Recipients of one batch written by one page; a batch is the concatenation of its parts in `part` order."""

    batch_id: str
    sender: str
    sequence: int
    part: int
    external_userids: tuple[str, ...]


@dataclass(frozen=True)
class ClosedBatch:
    """A batch that will receive no more recipients: dispatch may start once its `parts` parts are written."""

    batch_id: str
    sender: str
    sequence: int
    size: int
    parts: int


@dataclass(frozen=True)
class PlanTotals:
    """Running counts for the preview: customers reached, senders used, rows skipped by reason, batches."""

    recipients: int = 0
    senders: int = 0
    batches: int = 0
    skipped: Mapping[str, int] = field(default_factory=dict)
    discarded: int = 0
    """Candidate rows outside the audience (`SkipReason.NOT_IN_AUDIENCE`): a cost figure, not a skip."""

    @classmethod
    def combine(cls, parts: Iterable[PlanTotals]) -> PlanTotals:
        """The totals of planners that judged disjoint rows and senders (the shards of one broadcast)."""
        recipients = senders = batches = discarded = 0
        skipped: Counter[str] = Counter()
        for part in parts:
            recipients, senders = recipients + part.recipients, senders + part.senders
            batches, discarded = batches + part.batches, discarded + part.discarded
            skipped.update(part.skipped)
        return cls(recipients, senders, batches, dict(sorted(skipped.items())), discarded)

    def to_json(self) -> dict[str, Any]:
        return {
            "recipients": self.recipients,
            "senders": self.senders,
            "batches": self.batches,
            "skipped": dict(self.skipped),
            "discarded": self.discarded,
        }


@dataclass(frozen=True)
class PlanState:
    """Where planning stands between pages: the open batch, the last row judged, and the totals."""

    sender: str = ""
    sequence: int = -1
    fill: int = 0
    parts: int = 0
    last_row: tuple[str, str] | None = None
    totals: PlanTotals = field(default_factory=PlanTotals)

    def to_json(self) -> dict[str, Any]:
        return {
            "sender": self.sender,
            "sequence": self.sequence,
            "fill": self.fill,
            "parts": self.parts,
            "last_row": list(self.last_row) if self.last_row else None,
            "totals": self.totals.to_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PlanState:
        totals = data["totals"]
        return cls(
            sender=data["sender"],
            sequence=int(data["sequence"]),
            fill=int(data["fill"]),
            parts=int(data["parts"]),
            last_row=tuple(data["last_row"]) if data["last_row"] else None,  # type: ignore[arg-type]
            totals=PlanTotals(
                totals["recipients"], totals["senders"], totals["batches"], dict(totals["skipped"]), totals["discarded"]
            ),
        )

    def dumps(self) -> str:
        return json.dumps(self.to_json(), separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class PageResult:
    decisions: tuple[Decision, ...]
    parts: tuple[BatchPart, ...]
    closed: tuple[ClosedBatch, ...]
    state: PlanState

    @property
    def planned(self) -> tuple[str, ...]:
        """Customers reached by this page, who need a receipt."""
        return tuple(d.row.external_userid for d in self.decisions if d.skip is None)


def judge(ctx: PlanContext, row: AudienceRow, card: CustomerCard | None) -> SkipReason | None:
    """The verdict on one row, from the customer's card alone."""
    card = card or CustomerCard(row.external_userid)
    explicit = ctx.audience.external_userids
    if explicit and row.external_userid not in ctx.listed:
        return SkipReason.NOT_IN_AUDIENCE
    if not any(ctx.audience.matches(r) for r in card.relations):
        return SkipReason.NO_ACTIVE_FOLLOW if explicit and not card.relations else SkipReason.NOT_IN_AUDIENCE
    chosen = choose_sender(card, ctx.audience, ctx.inactive_senders)
    if not chosen:
        return SkipReason.NO_ACTIVE_FOLLOW
    if chosen != row.userid:
        return SkipReason.CHOSEN_BY_ANOTHER_SENDER
    if card.do_not_disturb:
        return SkipReason.DO_NOT_DISTURB
    return check_frequency(ctx.frequency, card.receipts, ctx.send_at, ctx.broadcast_id)


class _Batcher:
    """Accumulates the open batch across a page and cuts it at the sender change or the size limit."""

    def __init__(self, ctx: PlanContext, state: PlanState) -> None:
        self.ctx = ctx
        self.sender, self.sequence, self.fill, self.parts = state.sender, state.sequence, state.fill, state.parts
        self.pending: list[str] = []
        self.out_parts: list[BatchPart] = []
        self.closed: list[ClosedBatch] = []
        self.new_senders = 0

    def add(self, sender: str, external_userid: str) -> None:
        if sender != self.sender:
            self.close()
            self.sender, self.sequence, self.new_senders = sender, -1, self.new_senders + 1
        if self.sequence < 0 or self.fill == self.ctx.max_per_batch:
            self.close()
            self.sequence += 1
        self.pending.append(external_userid)
        self.fill += 1

    def flush_part(self) -> None:
        if self.pending:
            bid = batch_id(self.ctx.broadcast_id, self.sender, self.sequence)
            self.out_parts.append(BatchPart(bid, self.sender, self.sequence, self.parts, tuple(self.pending)))
            self.parts += 1
            self.pending = []

    def close(self) -> None:
        self.flush_part()
        if self.fill:
            bid = batch_id(self.ctx.broadcast_id, self.sender, self.sequence)
            self.closed.append(ClosedBatch(bid, self.sender, self.sequence, self.fill, self.parts))
        self.fill = self.parts = 0


def plan_page(
    ctx: PlanContext,
    state: PlanState,
    rows: Sequence[AudienceRow],
    cards: Mapping[str, CustomerCard],
    *,
    last_page: bool,
) -> PageResult:
    """Judge a page of rows (sorted by sender), extend the open batch, and close what is complete."""
    if not is_sender_grouped(rows) or (rows and state.sender and rows[0].userid < state.sender):
        raise ValueError("audience rows must arrive sorted by sender")
    batcher = _Batcher(ctx, state)
    decisions: list[Decision] = []
    skipped = Counter(state.totals.skipped)
    discarded = state.totals.discarded
    last_row = state.last_row
    for row in rows:
        key = (row.userid, row.external_userid)
        if key == last_row:
            continue
        last_row = key
        skip = judge(ctx, row, cards.get(row.external_userid))
        decisions.append(Decision(row, skip))
        if skip is None:
            batcher.add(row.userid, row.external_userid)
        elif skip is SkipReason.NOT_IN_AUDIENCE:
            discarded += 1
        else:
            skipped[skip.value] += 1
    if last_page:
        batcher.close()
    else:
        batcher.flush_part()
    totals = PlanTotals(
        recipients=state.totals.recipients + sum(1 for d in decisions if d.skip is None),
        senders=state.totals.senders + batcher.new_senders,
        batches=state.totals.batches + len(batcher.closed),
        skipped=dict(sorted(skipped.items())),
        discarded=discarded,
    )
    next_state = replace(
        state,
        sender=batcher.sender,
        sequence=batcher.sequence,
        fill=batcher.fill,
        parts=batcher.parts,
        last_row=last_row,
        totals=totals,
    )
    return PageResult(tuple(decisions), tuple(batcher.out_parts), tuple(batcher.closed), next_state)
