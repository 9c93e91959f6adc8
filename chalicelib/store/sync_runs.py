"""A tenant's customer sync runs (runtime table): the current run's state and progress, readable by admins.

One item per tenant and kind, `<t>#sync` / `run` (customers) or `groups` (group chats), holds the latest run. A run
starts only when none is running (or the running one has not moved for STALE_SECONDS: its worker died), with a
conditional write, so two triggers never run two syncs of one kind for one tenant. Workers carry the run id in
their continuation messages; a message of another run is ignored.
Counters are added with UpdateItem ADD (a redelivered page adds twice: they are progress figures, not accounting).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from pynamodb.attributes import ListAttribute, MapAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, PutError, UpdateError
from pynamodb.models import Model

from chalicelib import resources
from chalicelib.config import Settings
from chalicelib.store.dynamo import is_condition_failure
from chalicelib.store.keys import TenantKeys
from chalicelib.store.tables import bind_models, on_table

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
STALE_SECONDS = 3600
DEPARTED_SHOWN_MAX = 200
COUNTERS = ("employees", "departments", "follow_users", "users_done", "pages", "relations", "customers", "wecom_calls")
COUNTERS += ("skipped_older", "lost", "departed", "invocations")
GROUP_RUN = "groups"
GROUP_COUNTERS = ("owners", "owners_done", "pages", "chats", "chats_written", "members", "item_writes", "wecom_calls")
GROUP_COUNTERS += ("dismissed", "invocations")


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
        bind_models(settings)

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
            self._pk(), self.kind, run_id=run.run_id, status=QUEUED, trigger=trigger, started_at=now, updated_at=now
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

    def _update(self, run_id: str, actions: list[Any]) -> bool:
        """Apply `actions` to the run if it is still `run_id`; False when another run replaced it."""
        try:
            SyncRunItem(self._pk(), self.kind).update(actions=actions, condition=SyncRunItem.run_id == run_id)
        except UpdateError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def progress(self, run_id: str, now: int, **counts: int) -> bool:
        """Mark the run running and add to its counters; False when the run was replaced (stop working on it)."""
        unknown = set(counts) - set(self.counters)
        if unknown:
            raise ValueError(f"unknown counters: {sorted(unknown)}")
        current = self.current()
        if current is None or current.run_id != run_id or current.status in (DONE, FAILED):
            return False
        merged = {name: current.counts.get(name, 0) + counts.get(name, 0) for name in self.counters}
        return self._update(
            run_id,
            [SyncRunItem.status.set(RUNNING), SyncRunItem.updated_at.set(now), SyncRunItem.counts.set(merged)],
        )

    def set_counts(self, run_id: str, now: int, **counts: int) -> bool:
        """Set counters to absolute values (totals known once, like the number of follow users)."""
        current = self.current()
        if current is None or current.run_id != run_id:
            return False
        merged = {name: current.counts.get(name, 0) for name in self.counters} | counts
        return self._update(run_id, [SyncRunItem.updated_at.set(now), SyncRunItem.counts.set(merged)])

    def record_departed(self, run_id: str, userids: list[str], handover: str) -> bool:
        """Note who the sync found departed (the first DEPARTED_SHOWN_MAX) and what happens to their customers."""
        return self._update(
            run_id,
            [
                SyncRunItem.departed_userids.set(userids[:DEPARTED_SHOWN_MAX]),
                SyncRunItem.handover.set(handover),
            ],
        )

    def finish(self, run_id: str, now: int, error: str | None = None) -> bool:
        status = FAILED if error else DONE
        actions = [SyncRunItem.status.set(status), SyncRunItem.updated_at.set(now), SyncRunItem.finished_at.set(now)]
        if error:
            actions.append(SyncRunItem.error.set(error[:500]))
        return self._update(run_id, actions)
