"""One tenant's mass messages (客户群发): the broadcast items, and `BroadcastStore`, which joins them with their
batches, results, policy and timers.

| item | pk | sk | index keys | module |
|---|---|---|---|---|
| broadcast | `<t>#bc#<id>` | `meta` | gsi1 `<t>#bcs` / `<created_ms:013d>#<id>` (newest first) | here |
| batch, batch part | `<t>#bc#<id>` | `batch#…`, `part#…` | | `broadcast_batches` |
| planning shard | `<t>#bc#<id>` | `plan#…` | | `broadcast_plans` |
| employee / customer result | `<t>#bc#<id>` | `emp#…`, `cust#…` | | `broadcast_results` |
| mass-message policy | `<t>#bcpolicy` | `policy` | | `broadcast_policies` |
| timer (runtime table) | `due#<YYYYMMDDHHMM UTC>` | `<kind>#<tenant>#<id>` | | `broadcast_timers` |

A broadcast's batches, parts and results share its partition. Counters on the broadcast item are atomic ADDs, so
concurrent workers never lose an update; status changes and planning checkpoints are conditional writes, and the
count of open planning shards moves with the shards in transactions. The service
functions the admin API calls (start, preview, cancel, remind) are in `chalicelib.services.broadcasts`.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib import resources
from chalicelib.domain.broadcasts import COUNTERS, Broadcast, Status
from chalicelib.domain.plan_shards import SenderRange
from chalicelib.store.broadcast_base import BroadcastBase
from chalicelib.store.broadcast_batches import BroadcastBatches
from chalicelib.store.broadcast_plans import BroadcastPlans, PlanShardItem, shard_item, shard_sk
from chalicelib.store.broadcast_policies import BroadcastPolicies
from chalicelib.store.broadcast_results import BroadcastResults
from chalicelib.store.broadcast_timers import BroadcastTimers
from chalicelib.store.dynamo import Conflict, Page, decode_key, encode_cursor, is_condition_failure
from chalicelib.store.tables import on_table, shared_connection


class NewestIndex(GlobalSecondaryIndex["BroadcastItem"]):
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


@on_table(resources.DATA)
class BroadcastItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    newest = NewestIndex()
    broadcast_id = UnicodeAttribute()
    status = UnicodeAttribute()
    chat_type = UnicodeAttribute()
    content = UnicodeAttribute()
    audience = UnicodeAttribute()
    sender = UnicodeAttribute(null=True)
    send_at = NumberAttribute()
    allow_select = NumberAttribute()
    created_at = NumberAttribute()
    created_by = UnicodeAttribute(null=True)
    updated_at = NumberAttribute()
    recipients = NumberAttribute(default=0)
    senders = NumberAttribute(default=0)
    batches = NumberAttribute(default=0)
    batches_sent = NumberAttribute(default=0)
    batches_failed = NumberAttribute(default=0)
    rejected = NumberAttribute(default=0)
    sent = NumberAttribute(default=0)
    not_friend = NumberAttribute(default=0)
    over_quota = NumberAttribute(default=0)
    unsent = NumberAttribute(default=0)
    employees_confirmed = NumberAttribute(default=0)
    reminders = NumberAttribute(default=0)
    skipped = UnicodeAttribute(null=True)
    plan_open = NumberAttribute(null=True)
    follow_until = NumberAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    version = NumberAttribute(default=0)


def new_broadcast_id(now: float | None = None) -> str:
    """Time-ordered, unguessable, key-safe: `bc<ms:013d><hex8>`."""
    return f"bc{int((now if now is not None else time.time()) * 1000):013d}{secrets.token_hex(4)}"


def _to_broadcast(item: BroadcastItem) -> Broadcast:
    return Broadcast(
        broadcast_id=item.broadcast_id,
        status=item.status,
        chat_type=item.chat_type,
        content=json.loads(item.content),
        audience=json.loads(item.audience),
        send_at=int(item.send_at),
        allow_select=bool(item.allow_select),
        sender=item.sender or "",
        created_at=int(item.created_at),
        created_by=item.created_by or "",
        updated_at=int(item.updated_at),
        counts={name: int(getattr(item, name) or 0) for name in COUNTERS},
        skipped=json.loads(item.skipped) if item.skipped else {},
        follow_until=int(item.follow_until or 0),
        reason=item.reason or "",
        version=int(item.version or 0),
    )


class Broadcasts(BroadcastBase):
    """The broadcast items: creation, listing, status, counters and the planning checkpoint."""

    def create(
        self,
        *,
        chat_type: str,
        content: Mapping[str, Any],
        audience: Mapping[str, Any],
        send_at: int | None = None,
        allow_select: bool = False,
        sender: str = "",
        created_by: str = "",
        status: str = Status.DRAFT,
        now: float | None = None,
    ) -> Broadcast:
        """Store a new broadcast (draft unless told); `send_at` defaults to now."""
        if chat_type not in ("single", "group"):
            raise ValueError("chat_type must be single or group")
        if status not in (Status.DRAFT, Status.SCHEDULED):
            raise ValueError("a broadcast is created as draft or scheduled")
        now = time.time() if now is None else now
        broadcast_id = new_broadcast_id(now)
        item = BroadcastItem(
            self._pk(broadcast_id),
            "meta",
            gsi1pk=self.keys.key("bcs"),
            gsi1sk=f"{int(now * 1000):013d}#{broadcast_id}",
            broadcast_id=broadcast_id,
            status=status,
            chat_type=chat_type,
            content=json.dumps(dict(content), ensure_ascii=False, separators=(",", ":")),
            audience=json.dumps(dict(audience), ensure_ascii=False, separators=(",", ":")),
            sender=sender or None,
            send_at=int(send_at if send_at is not None else now),
            allow_select=int(allow_select),
            created_at=int(now),
            created_by=created_by or None,
            updated_at=int(now),
            version=0,
        )
        item.save(condition=BroadcastItem.pk.does_not_exist())
        return _to_broadcast(item)

    def get(self, broadcast_id: str) -> Broadcast | None:
        try:
            return _to_broadcast(BroadcastItem.get(self._pk(broadcast_id), "meta", consistent_read=True))
        except DoesNotExist:
            return None

    def list(self, limit: int = 20, cursor: str | None = None) -> Page[Broadcast]:
        """Broadcasts newest first, `limit` per page; pass the returned cursor for the next page."""
        result = BroadcastItem.newest.query(
            self.keys.key("bcs"),
            scan_index_forward=False,
            limit=limit,
            last_evaluated_key=decode_key(cursor, ("gsi1pk", self.keys.key("bcs"))),
        )
        items = [_to_broadcast(i) for i in result]
        return Page(items, encode_cursor(result.last_evaluated_key) if len(items) == limit else None)

    def set_status(
        self,
        broadcast_id: str,
        status: str,
        *,
        expect: Iterable[str],
        reason: str = "",
        counts: Mapping[str, int] | None = None,
        now: float | None = None,
    ) -> Broadcast:
        """Move to `status` if the broadcast is in one of `expect` (setting `counts` with it); raises Conflict
        otherwise."""
        item = BroadcastItem(self._pk(broadcast_id), "meta")
        expected = list(expect)
        actions = [
            BroadcastItem.status.set(status),
            BroadcastItem.updated_at.set(int(time.time() if now is None else now)),
            BroadcastItem.version.add(1),
        ]
        if reason:
            actions.append(BroadcastItem.reason.set(reason))
        actions.extend(getattr(BroadcastItem, name).set(int(v)) for name, v in (counts or {}).items())
        try:
            item.update(actions=actions, condition=BroadcastItem.status.is_in(*expected))
        except UpdateError as error:
            if is_condition_failure(error):
                raise Conflict(f"broadcast {broadcast_id} is not in {expected}") from None
            raise
        return _to_broadcast(item)

    def set_follow_until(self, broadcast_id: str, follow_until: int) -> None:
        BroadcastItem(self._pk(broadcast_id), "meta").update(actions=[BroadcastItem.follow_until.set(follow_until)])

    def add_counts(self, broadcast_id: str, **deltas: int) -> None:
        """Atomically add to the broadcast's counters (unknown names are refused)."""
        unknown = set(deltas) - set(COUNTERS)
        if unknown:
            raise ValueError(f"unknown counters {sorted(unknown)}")
        actions = [getattr(BroadcastItem, name).add(v) for name, v in deltas.items() if v]
        if actions:
            BroadcastItem(self._pk(broadcast_id), "meta").update(actions=actions)

    def set_counts(self, broadcast_id: str, counts: Mapping[str, int]) -> None:
        """Overwrite counters recomputed from their source (idempotent, unlike `add_counts`)."""
        unknown = set(counts) - set(COUNTERS)
        if unknown:
            raise ValueError(f"unknown counters {sorted(unknown)}")
        if counts:
            BroadcastItem(self._pk(broadcast_id), "meta").update(
                actions=[getattr(BroadcastItem, name).set(int(v)) for name, v in counts.items()]
            )

    # ---- planning shards ----

    def open_plan_shards(self, broadcast_id: str, ranges: Sequence[SenderRange]) -> None:
        """Create the broadcast's planning shards and its count of open shards in one transaction, unless they were
        created already (raises Conflict then, or when the broadcast is no longer planning)."""
        pk = self._pk(broadcast_id)
        try:
            with TransactWrite(connection=shared_connection(self.settings)) as tx:
                tx.update(
                    BroadcastItem(pk, "meta"),
                    actions=[BroadcastItem.plan_open.set(len(ranges))],
                    condition=BroadcastItem.plan_open.does_not_exist() & (BroadcastItem.status == Status.PLANNING),
                )
                for shard, senders in enumerate(ranges):
                    tx.save(shard_item(pk, shard, senders))
        except TransactWriteError as error:
            if is_condition_failure(error):
                raise Conflict(f"broadcast {broadcast_id}: planning shards exist or it is not planning") from None
            raise

    def close_plan_shard(self, broadcast_id: str, shard: int, *, page: int, cursor: str, state: str) -> None:
        """The shard's last checkpoint: it planned page `page - 1`, the last, and is done; the broadcast's count of
        open shards goes down by one in the same transaction. Raises Conflict when the shard's stored page is not
        `page - 1` or the broadcast is no longer planning."""
        pk = self._pk(broadcast_id)
        try:
            with TransactWrite(connection=shared_connection(self.settings)) as tx:
                tx.update(
                    PlanShardItem(pk, shard_sk(shard)),
                    actions=[
                        PlanShardItem.page.set(page),
                        PlanShardItem.cursor.set(cursor or None),
                        PlanShardItem.state.set(state),
                        PlanShardItem.done.set(1),
                    ],
                    condition=(PlanShardItem.page == page - 1) & (PlanShardItem.done == 0),
                )
                tx.update(
                    BroadcastItem(pk, "meta"),
                    actions=[BroadcastItem.plan_open.add(-1), BroadcastItem.updated_at.set(int(time.time()))],
                    condition=BroadcastItem.status == Status.PLANNING,
                )
        except TransactWriteError as error:
            if is_condition_failure(error):
                raise Conflict(f"broadcast {broadcast_id}: shard {shard} page {page - 1} already planned") from None
            raise

    def finish_planning(self, broadcast_id: str, counts: Mapping[str, int], skipped: Mapping[str, int]) -> None:
        """Planning → dispatching with the planner's counts (recipients, senders, batches) and skips by reason, once
        no shard is open (a group broadcast has none).
        Raises Conflict when a shard is still open or the broadcast is no longer planning: exactly one caller moves
        it."""
        item = BroadcastItem(self._pk(broadcast_id), "meta")
        actions = [
            BroadcastItem.status.set(Status.DISPATCHING),
            *(getattr(BroadcastItem, name).set(int(v)) for name, v in counts.items()),
            BroadcastItem.skipped.set(json.dumps(dict(skipped), separators=(",", ":"))),
            BroadcastItem.updated_at.set(int(time.time())),
            BroadcastItem.version.add(1),
        ]
        shards_closed = BroadcastItem.plan_open.does_not_exist() | (BroadcastItem.plan_open == 0)
        try:
            item.update(actions=actions, condition=(BroadcastItem.status == Status.PLANNING) & shards_closed)
        except UpdateError as error:
            if is_condition_failure(error):
                raise Conflict(f"broadcast {broadcast_id}: still planning shards or no longer planning") from None
            raise


class BroadcastStore(
    Broadcasts, BroadcastBatches, BroadcastPlans, BroadcastResults, BroadcastPolicies, BroadcastTimers
):
    """The mass messages of one tenant; every key it builds begins with that tenant's id."""
