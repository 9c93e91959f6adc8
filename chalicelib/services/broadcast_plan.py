"""Planning a broadcast: turn a broadcast's audience into dispatch batches, a bounded number of pages at a time.

One invocation plans at most `PAGES_PER_INVOCATION` pages (or until its time budget runs out), then publishes a
continuation message. Each page: Query the audience (never a Scan; `CustomerStore.audience_pages`), BatchGet the
cards, `domain.planning.plan_page`, write the page's batch parts, its closed batches (created pending, conditional
on not existing) and the planned customers' receipts, publish a `dispatch` message per closed batch, then checkpoint
the cursor and planner state on the condition that the stored page number is the one this run started from. A crash
anywhere before the checkpoint replays the page to the same ids and contents (writes are idempotent; closed batches
are published again and dispatch ignores batches that are no longer pending); a duplicate planner loses the
checkpoint condition and stops. Group-chat broadcasts are cut into batches of `MSG_TEMPLATE_MAX_CHAT_IDS` chat ids
per chat owner, each chat's receiving quota applied (`services.group_audience`).

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
MESSAGE_TYPE = "plan"


def plan_message(tenant_id: str, broadcast_id: str, page: int) -> dict[str, Any]:
    return {"type": MESSAGE_TYPE, "v": 1, "tenant_id": tenant_id, "broadcast_id": broadcast_id, "page": page}


def dispatch_message(tenant_id: str, broadcast_id: str, batch: str) -> dict[str, Any]:
    return {"type": "batch", "v": 1, "tenant_id": tenant_id, "broadcast_id": broadcast_id, "batch_id": batch}


@dataclass(frozen=True)
class Plan:
    """What planning needs besides the store: the resolved filter and context."""

    audience: AudienceFilter
    context: PlanContext


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
    return Plan(audience, context)


Page = tuple[list[Any], str, bool]
"""(rows, cursor after them, last page)"""


def pages(customers: CustomerStore, plan: Plan, cursor: str) -> Iterator[tuple[Page, dict]]:
    """Pages of (rows, next cursor, done) with the cards of their customers, from `cursor` on."""
    source = choose_source(plan.audience)
    if source.kind is SourceKind.EXPLICIT:
        cards = customers.get_cards(plan.audience.external_userids)
        rows = explicit_rows(plan.audience, cards, plan.context.inactive_senders)
        start = int(cursor or 0)
        for offset in range(start, max(len(rows), 1), PAGE_SIZE):
            chunk = rows[offset : offset + PAGE_SIZE]
            done = offset + PAGE_SIZE >= len(rows)
            yield (chunk, str(offset + PAGE_SIZE), done), {r.external_userid: cards[r.external_userid] for r in chunk}
        return
    for page in customers.audience_pages(source, cursor or None, PAGE_SIZE):
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


class PlanWorker:
    """Plans one broadcast from its checkpoint; `run` returns when the broadcast is planned or the budget is spent."""

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

    def run(self, broadcast_id: str) -> str:
        """Plan from the checkpoint; returns "planned", "continued", "stale" or the status that stopped it."""
        broadcast = self.store.get(broadcast_id)
        if broadcast is None or broadcast.status != Status.PLANNING:
            return broadcast.status if broadcast else "missing"
        if broadcast.chat_type == "group":
            return self._plan_groups(broadcast)
        policy = self.store.get_policy()
        plan = prepare(
            self.customers,
            broadcast_id,
            audience_from_json(broadcast.audience),
            broadcast.send_at,
            policy.frequency,
        )
        plan = Plan(plan.audience, replace(plan.context, max_per_batch=self.max_per_batch))
        state = PlanState.from_json(json.loads(broadcast.plan_state)) if broadcast.plan_state else PlanState()
        page_number = broadcast.plan_page
        for done_pages, ((rows, cursor, done), cards) in enumerate(
            pages(self.customers, plan, broadcast.plan_cursor), start=1
        ):
            result = plan_page(plan.context, state, rows, cards, last_page=done)
            self._write_page(broadcast, result)
            try:
                self.store.save_plan_checkpoint(
                    broadcast_id,
                    page=page_number + 1,
                    cursor=cursor,
                    state=result.state.dumps(),
                    skipped=result.state.totals.skipped,
                    counts={
                        "recipients": result.state.totals.recipients,
                        "senders": result.state.totals.senders,
                        "batches": result.state.totals.batches,
                    },
                )
            except Conflict:
                logger.warning("plan page already checkpointed by another worker", extra={"page": page_number})
                return "stale"
            page_number += 1
            state = result.state
            if done:
                return self._finish(broadcast_id)
            if done_pages >= self.pages_per_invocation or self.remaining() < 60:
                queues.publish(
                    resources.PLAN,
                    plan_message(self.tenant_id, broadcast_id, page_number),
                    tenant_id=self.tenant_id,
                    settings=self.settings,
                )
                return "continued"
        return self._finish(broadcast_id)

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
        try:
            self.store.save_plan_checkpoint(
                bid,
                page=broadcast.plan_page + 1,
                cursor="",
                state="",
                skipped=dict(plan.skipped),
                counts={"recipients": plan.recipients, "senders": plan.senders, "batches": len(batches)},
            )
        except Conflict:
            return "stale"
        self._publish_batches(bid, [b for b, _, _ in batches])
        return self._finish(bid)

    def _finish(self, broadcast_id: str) -> str:
        try:
            self.store.set_status(broadcast_id, Status.DISPATCHING, expect=[Status.PLANNING])
        except Conflict:
            return "stale"
        settle_dispatch(self.store, broadcast_id)
        logger.info("broadcast planned", extra={"broadcast_id": broadcast_id})
        return "planned"
