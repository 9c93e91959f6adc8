"""The cross-tenant timer index the schedule handler reads: `due#<YYYYMMDDHHMM UTC>` / `<kind>#<tenant>#<id>` on the
runtime table.

Timers are the only broadcast keys without a tenant prefix: one partition per minute, so the schedule handler finds due
work with one Query per minute bucket (never a Scan); each entry names its tenant in the sort key.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError
from pynamodb.models import Model

from chalicelib import resources
from chalicelib.store.broadcast_base import BroadcastBase
from chalicelib.store.dynamo import is_condition_failure
from chalicelib.store.tables import bind_models, on_table


@on_table(resources.RUNTIME)
class TimerItem(Model):
    class Meta:
        table_name = resources.RUNTIME.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    tenant_id = UnicodeAttribute()
    broadcast_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    at = NumberAttribute()
    expires_at = NumberAttribute()


@dataclass(frozen=True)
class Timer:
    """A due piece of work found by the schedule handler: `start` a scheduled broadcast, or `follow` its results."""

    tenant_id: str
    broadcast_id: str
    kind: str
    at: int
    bucket: str


START, FOLLOW = "start", "follow"
TIMER_RETENTION_SECONDS = 7 * 86_400


def minute_bucket(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y%m%d%H%M")


class BroadcastTimers(BroadcastBase):
    """Timers of the tenant's broadcasts (part of `BroadcastStore`)."""

    def set_timer(self, broadcast_id: str, kind: str, at: float) -> None:
        """Ask the schedule handler to `start` or `follow` this broadcast in the minute of `at`."""
        add_timer(self.tenant_id, broadcast_id, kind, at)


def add_timer(tenant_id: str, broadcast_id: str, kind: str, at: float) -> None:
    """A timer entry in the minute bucket of `at` (idempotent)."""
    bind_models()
    TimerItem(
        f"due#{minute_bucket(at)}",
        f"{kind}#{tenant_id}#{broadcast_id}",
        tenant_id=tenant_id,
        broadcast_id=broadcast_id,
        kind=kind,
        at=int(at),
        expires_at=int(at) + TIMER_RETENTION_SECONDS,
    ).save()


def due_timers(buckets: Iterable[str]) -> Iterator[Timer]:
    """Timer entries of these minute buckets (one Query per bucket)."""
    bind_models()
    for bucket in buckets:
        for item in TimerItem.query(f"due#{bucket}"):
            yield Timer(item.tenant_id, item.broadcast_id, item.kind, int(item.at), bucket)


def remove_timer(timer: Timer) -> None:
    try:
        TimerItem(f"due#{timer.bucket}", f"{timer.kind}#{timer.tenant_id}#{timer.broadcast_id}").delete()
    except DeleteError as error:
        if not is_condition_failure(error):
            raise
