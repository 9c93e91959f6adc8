"""A tenant's customer and group-chat sync runs (runtime table): the current run's state and progress, for admins.

One item per tenant and kind, `<t>#sync` / `run` (customers) or `groups` (group chats), holds the latest run. A run
starts only when none is running (or the running one has not moved for STALE_SECONDS: its worker died), with a
conditional write, so two triggers never run two syncs of one kind for one tenant. Workers carry the run id in
their continuation messages; a message of another run is ignored.
Counters are added with UpdateItem ADD on the counts map, so lanes running in parallel never lose each other's
figures (a redelivered page adds twice: they are progress figures, not accounting).

A run reads its employees in lanes (parallel chains of messages): `plan_lanes` records how many (once per run) and
their bounds, `lane_done` adds a finished lane to the run's set of done lanes (a set, so a redelivered lane counts
once) and, when every lane is done, finishes the run with a write conditioned on the run still running: the run is
finished exactly once, by whichever lane completed it.

| item (runtime table) | pk | sk |
|---|---|---|
| the latest run | `<t>#sync` | `run` or `groups` |
| relations a run saw in one chunk, one item per invocation part | `<t>#syncseen#<run_id>` | `<chunk>#<from>#<part>` |

The seen items let a chunk that spans several invocations be reconciled: an invocation that hands its chunk over
stores the relations it read (SEEN_PER_ITEM per item, kept SEEN_TTL_SECONDS), the one that completes the chunk reads
them back. Keyed by the cursor the invocation started from, so a redelivered invocation writes the same items again.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from pynamodb.attributes import ListAttribute, MapAttribute, NumberAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.exceptions import DoesNotExist, PutError, UpdateError
from pynamodb.models import Model

from chalicelib import resources
from chalicelib.config import Settings
from chalicelib.store.dynamo import batch_writer, is_condition_failure
from chalicelib.store.keys import TenantKeys
from chalicelib.store.tables import bind_models, on_table

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
STALE_SECONDS = 3600
DEPARTED_SHOWN_MAX = 200
COUNTERS = ("employees", "departments", "follow_users", "users_done", "pages", "relations", "customers", "wecom_calls")
COUNTERS += ("skipped_older", "lost", "departed", "invocations")
COUNTERS += ("unchanged", "items_read", "items_written", "lanes", "run_writes")
GROUP_RUN = "groups"
GROUP_COUNTERS = ("owners", "owners_done", "pages", "chats", "chats_written", "members", "item_writes", "wecom_calls")
GROUP_COUNTERS += ("dismissed", "invocations", "run_writes")
SEEN_PER_ITEM = 5_000
SEEN_TTL_SECONDS = 3 * 24 * 3600
PAIR_SEPARATOR, PAIRS_SEPARATOR = "\x1f", "\n"


@on_table(resources.RUNTIME)
class SyncRunItem(Model):
    class Meta:
        table_name = resources.RUNTIME.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    run_id = UnicodeAttribute()
    status = UnicodeAttribute()
    trigger = UnicodeAttribute()
    started_at = NumberAttribute()
    updated_at = NumberAttribute()
    finished_at = NumberAttribute(null=True)
    counts = MapAttribute(null=True)
    departed_userids = ListAttribute(of=UnicodeAttribute, null=True)
    handover = UnicodeAttribute(null=True)
    error = UnicodeAttribute(null=True)
    lane_bounds = ListAttribute(of=UnicodeAttribute, null=True)
    lanes_done = UnicodeSetAttribute(null=True)


@on_table(resources.RUNTIME)
class SeenItem(Model):
    class Meta:
        table_name = resources.RUNTIME.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    pairs = UnicodeAttribute()
    expires_at = NumberAttribute()


@dataclass(frozen=True)
class SyncRun:
    """The state of a run as admins see it."""

    run_id: str
    status: str
    trigger: str
    started_at: int
    updated_at: int
    finished_at: int | None = None
    counts: dict[str, int] = field(default_factory=dict)
    departed_userids: tuple[str, ...] = ()
    handover: str | None = None
    error: str | None = None
    counter_names: tuple[str, ...] = COUNTERS

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "trigger": self.trigger,
            "started_at": self.started_at,
            "updated_at": self.updated_at,
            "finished_at": self.finished_at,
            "counts": {name: self.counts.get(name, 0) for name in self.counter_names},
            "departed_userids": list(self.departed_userids),
            "handover": self.handover,
            "error": self.error,
        }


class SyncRunning(Exception):
    """Another run of this tenant is in progress."""

    def __init__(self, run: SyncRun) -> None:
        super().__init__(f"sync {run.run_id} is {run.status}")
        self.run = run


class SyncRuns:
    """The sync runs of one tenant: of its customers (`run`), or of its group chats (GROUP_RUN)."""

    def __init__(self, tenant_id: str, settings: Settings | None = None, kind: str = "run") -> None:
        self.keys = TenantKeys(tenant_id)
        self.kind = kind
        self.counters = GROUP_COUNTERS if kind == GROUP_RUN else COUNTERS
        self.settings = bind_models(settings)

    def _pk(self) -> str:
        return self.keys.key("sync")

    def current(self) -> SyncRun | None:
        try:
            item = SyncRunItem.get(self._pk(), self.kind, consistent_read=True)
        except DoesNotExist:
            return None
        return SyncRun(
            run_id=item.run_id,
            status=item.status,
            trigger=item.trigger,
            started_at=int(item.started_at),
            updated_at=int(item.updated_at),
            finished_at=int(item.finished_at) if item.finished_at is not None else None,
            counts={k: int(v) for k, v in (item.counts.as_dict() if item.counts else {}).items()},
            departed_userids=tuple(item.departed_userids or ()),
            handover=item.handover,
            error=item.error,
            counter_names=self.counters,
        )

    def start(self, trigger: str, now: int) -> SyncRun:
        """Record a new queued run, unless one is queued or running and not stale (raises SyncRunning)."""
        run = SyncRun(
            run_id=secrets.token_hex(8),
            status=QUEUED,
            trigger=trigger,
            started_at=now,
            updated_at=now,
            counter_names=self.counters,
        )
        item = SyncRunItem(
            self._pk(),
            self.kind,
            run_id=run.run_id,
            status=QUEUED,
            trigger=trigger,
            started_at=now,
            updated_at=now,
            counts=dict.fromkeys(self.counters, 0),
        )
        condition = (
            SyncRunItem.pk.does_not_exist()
            | SyncRunItem.status.is_in(DONE, FAILED)
            | (SyncRunItem.updated_at < now - STALE_SECONDS)
        )
        try:
            item.save(condition=condition)
        except PutError as error:
            if is_condition_failure(error):
                current = self.current()
                if current is not None:
                    raise SyncRunning(current) from None
            raise
        return run

    def _update(self, run_id: str, actions: list[Any], only_running: bool = False) -> SyncRunItem | None:
        """Apply `actions` to the run if it is still `run_id` (and, with `only_running`, still queued or running); the
        item as updated, or None when another run replaced it (or it had finished)."""
        condition = SyncRunItem.run_id == run_id
        if only_running:
            condition &= SyncRunItem.status.is_in(QUEUED, RUNNING)
        item = SyncRunItem(self._pk(), self.kind)
        try:
            item.update(actions=actions, condition=condition)
        except UpdateError as error:
            if is_condition_failure(error):
                return None
            raise
        return item

    def progress(self, run_id: str, now: int, **counts: int) -> bool:
        """Mark the run running and add to its counters (`run_writes` counts these updates themselves, the run's
        bookkeeping); False when the run was replaced or has finished (stop working on it)."""
        unknown = set(counts) - set(self.counters)
        if unknown:
            raise ValueError(f"unknown counters: {sorted(unknown)}")
        actions = [SyncRunItem.status.set(RUNNING), SyncRunItem.updated_at.set(now)]
        added = counts | {"run_writes": 1}
        actions += [SyncRunItem.counts[name].add(value) for name, value in added.items() if value]
        return self._update(run_id, actions, only_running=True) is not None

    def set_counts(self, run_id: str, now: int, **counts: int) -> bool:
        """Set counters to absolute values (totals known once, like the number of follow users)."""
        actions = [SyncRunItem.updated_at.set(now)]
        actions += [SyncRunItem.counts[name].set(value) for name, value in counts.items()]
        return self._update(run_id, actions) is not None

    def plan_lanes(self, run_id: str, bounds: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Record the run's lanes (their (after, upto) bounds) unless already recorded; the lanes of the run."""
        flat = [edge for pair in bounds for edge in pair]
        try:
            SyncRunItem(self._pk(), self.kind).update(
                actions=[SyncRunItem.lane_bounds.set(flat), SyncRunItem.counts["lanes"].set(len(bounds))],
                condition=(SyncRunItem.run_id == run_id) & SyncRunItem.lane_bounds.does_not_exist(),
            )
        except UpdateError as error:
            if not is_condition_failure(error):
                raise
            item = SyncRunItem.get(self._pk(), self.kind, consistent_read=True)
            if item.run_id != run_id:
                return []
            flat = list(item.lane_bounds or ())
        return [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]

    def lane_done(self, run_id: str, lane: int, now: int) -> bool:
        """Count a lane done; True when this call finished the run (every lane done, and the run still running)."""
        actions = [SyncRunItem.lanes_done.add({str(lane)}), SyncRunItem.updated_at.set(now)]
        item = self._update(run_id, actions, only_running=True)
        if item is None or len(item.lanes_done or ()) < len(item.lane_bounds or ()) // 2:
            return False
        return self.finish(run_id, now, only_running=True)

    def record_departed(self, run_id: str, userids: list[str], handover: str) -> bool:
        """Note who the sync found departed (the first DEPARTED_SHOWN_MAX) and what happens to their customers."""
        actions = [SyncRunItem.departed_userids.set(userids[:DEPARTED_SHOWN_MAX]), SyncRunItem.handover.set(handover)]
        return self._update(run_id, actions) is not None

    def finish(self, run_id: str, now: int, error: str | None = None, only_running: bool = False) -> bool:
        """Mark the run done (failed with an error); with `only_running`, only if it is still running, so concurrent
        finishers finish it once (False for all but one)."""
        status = FAILED if error else DONE
        actions = [SyncRunItem.status.set(status), SyncRunItem.updated_at.set(now), SyncRunItem.finished_at.set(now)]
        if error:
            actions.append(SyncRunItem.error.set(error[:500]))
        return self._update(run_id, actions, only_running) is not None

    def _seen_pk(self, run_id: str) -> str:
        return self.keys.key("syncseen", run_id)

    def save_seen(self, run_id: str, chunk: str, start: str, pairs: list[tuple[str, str]], now: int) -> int:
        """Store the (external_userid, userid) pairs an invocation read of `chunk` since cursor `start`; items
        written."""
        parts = [pairs[i : i + SEEN_PER_ITEM] for i in range(0, len(pairs), SEEN_PER_ITEM)]
        with batch_writer(SeenItem, self.settings) as batch:
            for number, part in enumerate(parts):
                batch.put(
                    SeenItem(
                        self._seen_pk(run_id),
                        f"{chunk}#{start}#{number:04d}",
                        pairs=PAIRS_SEPARATOR.join(PAIR_SEPARATOR.join(pair) for pair in part),
                        expires_at=now + SEEN_TTL_SECONDS,
                    )
                )
        return len(parts)

    def seen(self, run_id: str, chunk: str) -> set[tuple[str, str]]:
        """Every pair stored for `chunk` of this run by `save_seen`."""
        found: set[tuple[str, str]] = set()
        for item in SeenItem.query(self._seen_pk(run_id), SeenItem.sk.startswith(f"{chunk}#"), consistent_read=True):
            for line in item.pairs.split(PAIRS_SEPARATOR):
                ext, _, userid = line.partition(PAIR_SEPARATOR)
                found.add((ext, userid))
        return found
