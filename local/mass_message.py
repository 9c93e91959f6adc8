"""Mass messages on the local stack, for `make run`'s step, the broadcast e2e tests and `bench/broadcast.py`.

- `tag_share`: an admin tags a share of the simulated company's customers in WeCom (simulator side).
- `seed_customers`: the tenant's customer store filled from the simulator's company with the store's bulk writer.
- `WorkerKiller`: dispatch workers that die mid-batch (after the claim, or after WeCom's answer and before
  recording it), holding the batch's lease.
- `wait_dispatched`, `fast_forward_follow`: watch a broadcast through dispatch; then let the simulated senders
  confirm and run the minute schedule ahead of time so the follow passes (through the pump) settle it.
- `wecom_view`: what the simulator recorded for one broadcast (tasks created per customer, calls and answers).
- `planned_recipients`: every recipient the engine planned for one broadcast (to hold against `wecom_view`).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from chalicelib.domain.audience import Employee
from chalicelib.domain.broadcasts import Broadcast, Status
from chalicelib.domain.dispatch_state import BatchStatus
from chalicelib.services.dispatch import LEASE_SECONDS, Dispatcher
from chalicelib.store.broadcasts import BroadcastStore
from chalicelib.store.customers import CustomerStore
from chalicelib.store.relations import FollowRelation
from chalicelib.workers.schedule import run_schedule
from local.wecom_sim import Company, Simulator

ADD_MSG_TEMPLATE = "externalcontact/add_msg_template"
FOLLOW_AHEAD_SECONDS = 400
"""How far ahead of real time the fast-forwarded schedule runs: past the first follow delay and the follow interval."""


def tag_share(sim: Simulator, company: Company, share: float, seed: int = 7) -> tuple[str, int]:
    """Put the company's first tag on every relation of a seeded `share` of its customers; (tag id, customers)."""
    rng = random.Random(seed)
    tag_id = sorted(company.tags.tags)[0]
    tagged = 0
    with sim.lock:
        for external_userid in company.book.customers:
            if rng.random() >= share:
                continue
            follows = company.book.follows_of_customer(external_userid)
            for follow in follows:
                if tag_id not in follow.tag_ids:
                    follow.tag_ids.append(tag_id)
            tagged += bool(follows)
    return tag_id, tagged


@dataclass
class SeedFigures:
    relations: int = 0
    items: int = 0
    requests: int = 0
    seconds: float = 0.0

    @property
    def items_per_second(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0


def seed_customers(
    tenant_id: str,
    company: Company,
    *,
    chunk: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> SeedFigures:
    """Employees and every live follow relation of `company` into the tenant's store, `chunk` relations per
    `put_follows` (idempotent: a second run rewrites the same items)."""
    started = time.perf_counter()
    store = CustomerStore(tenant_id)
    store.put_employees(Employee(u, active=e.active) for u, e in company.employees.items())
    now = int(time.time())
    figures = SeedFigures()
    page: list[FollowRelation] = []

    def flush() -> None:
        stats = store.put_follows(page)
        figures.relations += len(page)
        figures.items += stats.items
        figures.requests += stats.requests
        if progress:
            progress(len(page))
        page.clear()

    for external_userid in company.book.customers:
        for f in company.book.follows_of_customer(external_userid):
            if not f.deleted_by_customer:
                page.append(
                    FollowRelation(f.external_userid, f.userid, f.createtime, now, tag_ids=frozenset(f.tag_ids))
                )
        if len(page) >= chunk:
            flush()
    if page:
        flush()
    figures.seconds = time.perf_counter() - started
    return figures


class WorkerKilled(RuntimeError):
    """Raised at the checkpoint: the worker dies there, as a Lambda killed mid-batch would."""


@dataclass
class Kill:
    broadcast_id: str
    batch_id: str
    point: str


@dataclass
class WorkerKiller:
    """A second dispatch worker for batches still pending, as SQS's at-least-once delivery gives one, that dies at a
    checkpoint: after its claim, or after WeCom's answer and before recording it. It holds the batch's lease
    (`lease_seconds`), so the worker handling the original message must wait for the lease to run out and then
    reconcile with WeCom before sending anything."""

    tenant_id: str
    broadcast_id: str
    lease_seconds: float = LEASE_SECONDS
    poll_seconds: float = 0.05
    """How often to list the batches (a Query); between lists only the broadcast item is read, and a new planned
    page (its batch count grows) triggers a list at once."""
    kills: list[Kill] = field(default_factory=list)
    _tried: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def kill_one(self, point: str, timeout: float = 60.0) -> Kill | None:
        """Claim the first pending batch the other killer is not trying and die at `point`; None if other workers
        kept claiming first until `timeout`."""
        store = BroadcastStore(self.tenant_id)
        deadline = time.monotonic() + timeout
        planned, next_look = -1, 0.0
        while time.monotonic() < deadline:
            broadcast = store.get(self.broadcast_id)
            if broadcast is None or broadcast.status not in (Status.DRAFT, Status.PLANNING, Status.DISPATCHING):
                return None
            batches = broadcast.counts.get("batches", 0)
            if batches == planned and time.monotonic() < next_look:
                time.sleep(min(self.poll_seconds, 0.2))
                continue
            planned, next_look = batches, time.monotonic() + self.poll_seconds
            for batch in store.batches(self.broadcast_id).items:
                if batch.state.status is not BatchStatus.PENDING:
                    continue
                with self._lock:
                    if batch.batch_id in self._tried:
                        continue
                    self._tried.add(batch.batch_id)
                kill = self._handle(batch.batch_id, point, deadline)
                with self._lock:
                    if kill is None:
                        self._tried.discard(batch.batch_id)  # it may be pending again later: try it then
                        continue
                    self.kills.append(kill)
                return kill
        return None

    def _handle(self, batch_id: str, point: str, deadline: float) -> Kill | None:
        """Handle the batch as a duplicate delivery would and die at `point`. A refused token books a turn: the
        killer comes back at it holding the turn, as the re-published message would (under a backlog every token is
        booked, so a worker without a turn never gets one). None when the batch moved on first."""

        def checkpoint(reached: str) -> None:
            if reached == point:
                raise WorkerKilled(point)

        dispatcher = Dispatcher(self.tenant_id, lease_seconds=self.lease_seconds, checkpoint=checkpoint)
        turn_at = 0.0
        while True:
            try:
                outcome = dispatcher.handle(self.broadcast_id, batch_id, turn_at)
            except WorkerKilled:
                return Kill(self.broadcast_id, batch_id, point)
            if not outcome.turn_at or time.monotonic() + outcome.delay > deadline:
                return None
            turn_at = outcome.turn_at
            time.sleep(outcome.delay)

    def kill_concurrently(self, points: tuple[str, ...], timeout: float = 60.0) -> threading.Thread:
        """One killer thread per point, started now (join the returned thread)."""
        threads = [threading.Thread(target=self.kill_one, args=(p, timeout), daemon=True) for p in points]
        for thread in threads:
            thread.start()

        def join() -> None:
            for thread in threads:
                thread.join()

        joiner = threading.Thread(target=join, daemon=True)
        joiner.start()
        return joiner


def batch_progress(store: BroadcastStore, broadcast_id: str) -> tuple[Broadcast, int]:
    """The broadcast and how many of its batches are final (sent, failed or cancelled)."""
    broadcast = store.get(broadcast_id)
    assert broadcast is not None
    final = sum(1 for b in store.batches(broadcast_id).items if b.state.status.value in ("sent", "failed", "cancelled"))
    return broadcast, final


def wait_dispatched(
    tenant_id: str,
    broadcast_id: str,
    *,
    timeout: float,
    poll: float = 1.0,
    on_progress: Callable[[Broadcast, int], None] | None = None,
) -> Broadcast:
    """Wait until the broadcast has left planning and dispatching (every batch final)."""
    store = BroadcastStore(tenant_id)
    deadline = time.monotonic() + timeout
    while True:
        broadcast, final = batch_progress(store, broadcast_id)
        if on_progress:
            on_progress(broadcast, final)
        if broadcast.status not in (Status.PLANNING, Status.DISPATCHING):
            return broadcast
        if time.monotonic() > deadline:
            raise TimeoutError(f"broadcast still {broadcast.status} with {final} batches final")
        time.sleep(poll)


def fast_forward_follow(sim: Simulator, tenant_id: str, broadcast_id: str, *, timeout: float = 60.0) -> Broadcast:
    """Let every simulated sender confirm (the simulator clock jumps past its confirmation delay), then run the
    minute schedule as if its follow timers were due, until the follow passes (run by the pump) settle the broadcast."""
    sim.clock.advance(sim.config.confirm_delay + 1)
    store = BroadcastStore(tenant_id)
    deadline = time.monotonic() + timeout
    while True:
        broadcast = store.get(broadcast_id)
        assert broadcast is not None
        if broadcast.status in (Status.DONE, Status.CANCELLED):
            return broadcast
        if time.monotonic() > deadline:
            raise TimeoutError(f"broadcast still {broadcast.status}")
        run_schedule(now=time.time() + FOLLOW_AHEAD_SECONDS)
        time.sleep(1.0)


@dataclass(frozen=True)
class WeComView:
    """One broadcast as the simulator saw it: tasks created per customer and per sender."""

    tasks_per_customer: Counter[str]
    tasks_per_sender: Counter[str]
    statuses: Counter[int]

    @property
    def duplicates(self) -> int:
        """Customers put into more than one task of this broadcast."""
        return sum(1 for n in self.tasks_per_customer.values() if n > 1)


def wecom_view(sim: Simulator, company: Company, text: str) -> WeComView:
    """Every mass message the simulator holds with this text: receivers, senders and per-receiver statuses."""
    per_customer: Counter[str] = Counter()
    per_sender: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    sim.stats(company.corpid)
    with sim.lock:
        for message in company.mass.messages.values():
            if (message.text or {}).get("content") != text:
                continue
            for userid, records in message.results.items():
                per_sender[userid] += 1
                for record in records:
                    per_customer[record.receiver] += 1
                    statuses[record.status] += 1
    return WeComView(per_customer, per_sender, statuses)


def planned_recipients(tenant_id: str, broadcast_id: str) -> set[str]:
    """Every customer the engine put into a batch of this broadcast."""
    store = BroadcastStore(tenant_id)
    planned: set[str] = set()
    for batch in store.batches(broadcast_id).items:
        planned.update(store.recipients(broadcast_id, batch))
    return planned


def most_used_tag(company: Company) -> str:
    """The tag on the most live follow relations of the simulated company."""
    counts: Counter[str] = Counter()
    for external_userid in company.book.customers:
        for follow in company.book.follows_of_customer(external_userid):
            if not follow.deleted_by_customer:
                counts.update(follow.tag_ids)
    return counts.most_common(1)[0][0]
