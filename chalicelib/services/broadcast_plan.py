"""Planning a broadcast: turn a broadcast's audience into dispatch batches, in parallel shards of senders, a bounded
number of pages at a time.

The first plan message splits the audience into at most `Settings.plan_shards` ranges of senders
(`domain.plan_shards.split_senders`, at least `SENDERS_PER_SHARD` senders each), creates the shards with the count of
open shards in one transaction, and publishes one plan message per shard: the plan queue runs them in parallel. A
shard invocation plans at most `PAGES_PER_INVOCATION` pages of its senders' rows (or until its time budget runs out),
then publishes a continuation message for the shard. Each page: Query the audience (never a Scan;
`CustomerStore.audience_pages`), BatchGet the cards, `domain.planning.plan_page`, write the page's batch parts, its
closed batches (created pending, conditional on not existing) and the planned customers' receipts, publish a
`dispatch` message per closed batch, then checkpoint the shard's cursor and planner state on the condition that its
stored page number is the one this run started from. A crash anywhere before the checkpoint replays the page to the
same ids and contents (writes are idempotent; closed batches are published again and dispatch ignores batches that are
no longer pending); a duplicate planner loses the checkpoint condition and stops. A shard's last checkpoint closes it
and decrements the open count in one transaction; whoever then finds every shard closed sums their totals and moves
the broadcast to dispatching with a conditional write, so it moves on exactly once (a redelivered message of a closed
shard only retries that step).
Group-chat broadcasts are cut into batches of `MSG_TEMPLATE_MAX_CHAT_IDS` chat ids per chat owner, each chat's
receiving quota applied (`services.group_audience`).

`preview` runs the same planner over the same Queries without writing anything.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from chalicelib import queues, resources
from chalicelib.config import Settings, get_settings
from chalicelib.domain.audience import (
    AudienceFilter,
    SourceKind,
    audience_from_json,
    choose_source,
    explicit_rows,
    resolve_senders,
)
from chalicelib.domain.broadcasts import Broadcast, Status
from chalicelib.domain.plan_shards import EVERY_SENDER, PlanShard, SenderRange, split_senders
from chalicelib.domain.planning import PlanContext, PlanState, PlanTotals, batch_id, plan_page
from chalicelib.domain.wecom_limits import MSG_TEMPLATE_MAX_EXTERNAL_USERIDS
from chalicelib.observability import logger
from chalicelib.services.dispatch import settle_dispatch
from chalicelib.store.broadcasts import BroadcastStore
from chalicelib.store.customers import CustomerStore
from chalicelib.store.dynamo import Conflict

PAGE_SIZE = 1000
PAGES_PER_INVOCATION = 20
TIME_BUDGET_SECONDS = 600.0
SENDERS_PER_SHARD = 4
MESSAGE_TYPE = "plan"


def plan_message(tenant_id: str, broadcast_id: str, page: int, shard: int | None = None) -> dict[str, Any]:
    """The message that plans a broadcast: its split into shards (no `shard`), or one shard from page `page` on."""
    message = {"type": MESSAGE_TYPE, "v": 1, "tenant_id": tenant_id, "broadcast_id": broadcast_id, "page": page}
    return message if shard is None else {**message, "shard": shard}


def dispatch_message(tenant_id: str, broadcast_id: str, batch: str) -> dict[str, Any]:
    return {"type": "batch", "v": 1, "tenant_id": tenant_id, "broadcast_id": broadcast_id, "batch_id": batch}


@dataclass(frozen=True)
class Plan:
    """What planning needs besides the store: the resolved filter and context, and the employees who may send."""

    audience: AudienceFilter
    context: PlanContext
    senders: frozenset[str] = frozenset()

    def shard_ranges(self, shards: int) -> tuple[SenderRange, ...]:
        """The sender ranges to plan in parallel: one for an explicit list (its cards are read whole)."""
        if choose_source(self.audience).kind is SourceKind.EXPLICIT:
            return (SenderRange(),)
        return split_senders(self.audience.senders or self.senders, shards, SENDERS_PER_SHARD)


def prepare(
    customers: CustomerStore, broadcast_id: str, audience: AudienceFilter, send_at: int, frequency: Any
) -> Plan:
    """Resolve departments into senders and collect departed employees (who can no longer send)."""
    employees = customers.list_employees()
    if audience.departments:
        audience = resolve_senders(audience, employees, customers.list_departments())
    inactive = frozenset(e.userid for e in employees if not e.active)
    context = PlanContext(
        broadcast_id,
        audience,
        datetime.fromtimestamp(send_at, UTC),
        frequency,
        inactive,
        MSG_TEMPLATE_MAX_EXTERNAL_USERIDS,
    )
    return Plan(audience, context, frozenset(e.userid for e in employees))


Page = tuple[list[Any], str, bool]
"""(rows, cursor after them, last page)"""


def pages(
    customers: CustomerStore, plan: Plan, cursor: str, senders: SenderRange = EVERY_SENDER
) -> Iterator[tuple[Page, dict]]:
    """Pages of (rows, next cursor, done) of the senders in `senders`, with the cards of their customers, from
    `cursor` on."""
    source = choose_source(plan.audience)
    if source.kind is SourceKind.EXPLICIT:
        cards = customers.get_cards(plan.audience.external_userids)
        rows = [r for r in explicit_rows(plan.audience, cards, plan.context.inactive_senders) if r.userid in senders]
        start = int(cursor or 0)
        for offset in range(start, max(len(rows), 1), PAGE_SIZE):
            chunk = rows[offset : offset + PAGE_SIZE]
            done = offset + PAGE_SIZE >= len(rows)
            yield (chunk, str(offset + PAGE_SIZE), done), {r.external_userid: cards[r.external_userid] for r in chunk}
        return
    for page in customers.audience_pages(source, cursor or None, PAGE_SIZE, senders):
        cards = customers.get_cards({r.external_userid for r in page.rows}) if page.rows else {}
        yield (page.rows, page.cursor, page.done), cards


@dataclass(frozen=True)
class Preview:
    """A dry run: customers reached, senders, batches, skipped by reason; `exact` False if the time budget ran out."""

    totals: PlanTotals
    exact: bool

    def to_json(self) -> dict[str, Any]:
        totals = self.totals.to_json()
        return {
            "recipients": totals["recipients"],
            "senders": totals["senders"],
            "batches": totals["batches"],
            "skipped": totals["skipped"],
            "exact": self.exact,
        }


def preview(
    tenant_id: str,
    audience: AudienceFilter,
    *,
    send_at: int | None = None,
    time_budget_seconds: float = 20.0,
    settings: Settings | None = None,
) -> Preview:
    """Run the planner over the audience without writing: exact counts unless the time budget runs out."""
    settings = settings or get_settings()
    customers = CustomerStore(tenant_id, settings)
    policy = BroadcastStore(tenant_id, settings).get_policy()
    plan = prepare(customers, "preview", audience, int(send_at or time.time()), policy.frequency)
    state = PlanState()
    deadline = time.monotonic() + time_budget_seconds
    for (rows, _cursor, done), cards in pages(customers, plan, ""):
        state = plan_page(plan.context, state, rows, cards, last_page=done).state
        if done:
            return Preview(state.totals, True)
        if time.monotonic() > deadline:
            return Preview(state.totals, False)
    return Preview(state.totals, True)


def shard_state(shard: PlanShard) -> PlanState:
    """The planner state a shard checkpointed (a fresh one before its first page)."""
    return PlanState.from_json(json.loads(shard.state)) if shard.state else PlanState()


class PlanWorker:
    """Plans one broadcast: `run` splits it into shards, or plans one shard from its checkpoint until the shard is
    planned or the budget is spent."""

    def __init__(
        self,
        tenant_id: str,
        settings: Settings | None = None,
        *,
        pages_per_invocation: int = PAGES_PER_INVOCATION,
        remaining_seconds: Callable[[], float] | None = None,
        max_per_batch: int = MSG_TEMPLATE_MAX_EXTERNAL_USERIDS,
    ) -> None:
        self.tenant_id = tenant_id
        self.settings = settings or get_settings()
        self.store = BroadcastStore(tenant_id, self.settings)
        self.customers = CustomerStore(tenant_id, self.settings)
        self.pages_per_invocation = pages_per_invocation
        started = time.monotonic()
        self.remaining = remaining_seconds or (lambda: TIME_BUDGET_SECONDS - (time.monotonic() - started))
        self.max_per_batch = max_per_batch

    def run(self, broadcast_id: str, shard: int | None = None, page: int = 0) -> str:
        """Split the broadcast (no `shard`) or plan `shard` from its checkpoint, whatever `page` the message was
        published at: a message behind the checkpoint is a duplicate or the redelivery of an invocation that died
        after checkpointing some pages, and only the checkpoint tells where to resume (a duplicate planner loses the
        next checkpoint's condition). Returns "split", "planned" (the broadcast moved to dispatching), "shard
        planned", "continued", "stale" or the status that stopped it."""
        broadcast = self.store.get(broadcast_id)
        if broadcast is None or broadcast.status != Status.PLANNING:
            return broadcast.status if broadcast else "missing"
        if broadcast.chat_type == "group":
            return self._plan_groups(broadcast)
        if shard is None:
            return self._split(broadcast)
        current = self.store.get_plan_shard(broadcast_id, shard)
        if current is None:
            return "missing"
        if current.done:
            return self._finish(broadcast_id)
        if page < current.page:
            logger.info("plan message behind its shard", extra={"shard": shard, "page": page, "at": current.page})
        return self._plan_shard(broadcast, current)

    def _prepare(self, broadcast: Broadcast) -> Plan:
        policy = self.store.get_policy()
        plan = prepare(
            self.customers,
            broadcast.broadcast_id,
            audience_from_json(broadcast.audience),
            broadcast.send_at,
            policy.frequency,
        )
        return replace(plan, context=replace(plan.context, max_per_batch=self.max_per_batch))

    def _split(self, broadcast: Broadcast) -> str:
        """Create the shards (once) and publish a message for each shard that has not started."""
        bid = broadcast.broadcast_id
        shards = self.store.plan_shards(bid)
        if not shards:
            ranges = self._prepare(broadcast).shard_ranges(self.settings.plan_shards)
            try:
                self.store.open_plan_shards(bid, ranges)
            except Conflict:
                logger.warning("planning shards already created", extra={"broadcast_id": bid})
            shards = self.store.plan_shards(bid)
        if shards and all(s.done for s in shards):
            return self._finish(bid)
        unstarted = [s.shard for s in shards if s.page == 0 and not s.done]
        if unstarted:
            queues.publish_batch(
                resources.PLAN,
                [plan_message(self.tenant_id, bid, 0, shard) for shard in unstarted],
                tenant_id=self.tenant_id,
                settings=self.settings,
            )
        logger.info("broadcast planning split", extra={"broadcast_id": bid, "shards": len(shards)})
        return "split"

    def _plan_shard(self, broadcast: Broadcast, shard: PlanShard) -> str:
        bid = broadcast.broadcast_id
        plan = self._prepare(broadcast)
        state = shard_state(shard)
        page_number = shard.page
        for done_pages, ((rows, cursor, done), cards) in enumerate(
            pages(self.customers, plan, shard.cursor, shard.senders), start=1
        ):
            result = plan_page(plan.context, state, rows, cards, last_page=done)
            self._write_page(broadcast, result)
            checkpoint = self.store.close_plan_shard if done else self.store.save_shard_checkpoint
            try:
                checkpoint(bid, shard.shard, page=page_number + 1, cursor=cursor, state=result.state.dumps())
            except Conflict:
                logger.warning("plan page already checkpointed", extra={"shard": shard.shard, "page": page_number})
                return "stale"
            page_number += 1
            state = result.state
            if done:
                return self._finish(bid)
            if done_pages >= self.pages_per_invocation or self.remaining() < 60:
                queues.publish(
                    resources.PLAN,
                    plan_message(self.tenant_id, bid, page_number, shard.shard),
                    tenant_id=self.tenant_id,
                    settings=self.settings,
                )
                return "continued"
        raise RuntimeError(f"broadcast {bid}: the audience of shard {shard.shard} ended without a last page")

    def _write_page(self, broadcast: Broadcast, result: Any) -> None:
        bid = broadcast.broadcast_id
        self.store.put_parts(bid, [(p.batch_id, p.part, list(p.external_userids)) for p in result.parts])
        if result.planned:
            self.customers.record_receipts(bid, datetime.fromtimestamp(broadcast.send_at, UTC), result.planned)
        self.store.put_batches(bid, [(c.batch_id, c.sender, c.sequence, c.size, c.parts) for c in result.closed])
        self._publish_batches(bid, [c.batch_id for c in result.closed])

    def _publish_batches(self, broadcast_id: str, batch_ids: list[str]) -> None:
        if batch_ids:
            queues.publish_batch(
                resources.DISPATCH,
                [dispatch_message(self.tenant_id, broadcast_id, b) for b in batch_ids],
                tenant_id=self.tenant_id,
                settings=self.settings,
            )

    def _plan_groups(self, broadcast: Broadcast) -> str:
        """A group-chat broadcast: its chats (`services.group_audience`, each chat's receiving quota applied) in
        batches of at most 2,000 per owner, who sends them."""
        from chalicelib.domain.group_audience import group_audience
        from chalicelib.services.group_audience import plan_group_audience, record_group_receipts

        bid, sender = broadcast.broadcast_id, broadcast.sender
        policy = self.store.get_policy().frequency
        plan = plan_group_audience(
            self.tenant_id, group_audience(broadcast.audience, sender), sender, policy, broadcast.send_at, bid
        )
        batches = [(batch_id(bid, owner, n), owner, chats) for n, (owner, chats) in enumerate(plan.batches)]
        self.store.put_parts(bid, [(b, 0, list(chats)) for b, _, chats in batches])
        record_group_receipts(self.tenant_id, bid, broadcast.send_at, plan)
        self.store.put_batches(bid, [(b, owner, n, len(chats), 1) for n, (b, owner, chats) in enumerate(batches)])
        self._publish_batches(bid, [b for b, _, _ in batches])
        return self._move_on(bid, PlanTotals(plan.recipients, plan.senders, len(batches), dict(plan.skipped)))

    def _finish(self, broadcast_id: str) -> str:
        """Once every shard is done: the broadcast moves on with the shards' summed totals (exactly once)."""
        shards = self.store.plan_shards(broadcast_id)
        if not all(s.done for s in shards):
            return "shard planned"
        return self._move_on(broadcast_id, PlanTotals.combine(shard_state(s).totals for s in shards))

    def _move_on(self, broadcast_id: str, totals: PlanTotals) -> str:
        counts = {"recipients": totals.recipients, "senders": totals.senders, "batches": totals.batches}
        try:
            self.store.finish_planning(broadcast_id, counts, totals.skipped)
        except Conflict:
            return "stale"
        settle_dispatch(self.store, broadcast_id)
        logger.info("broadcast planned", extra={"broadcast_id": broadcast_id})
        return "planned"
