"""A broadcast's planning shards, in the broadcast's partition (data table).

| item | pk | sk |
|---|---|---|
| plan shard | `<t>#bc#<id>` | `plan#<shard:02d>` |

A shard holds its range of senders, the number of pages it has planned, the audience cursor and the planner state
after them, and whether it is done. Shards are created together with the broadcast's count of open shards (one
transaction, `Broadcasts.open_plan_shards`); a checkpoint is a conditional write on the page it started from, so two
planners of one shard never both advance it, and the last checkpoint closes the shard and decrements the count in
one transaction (`Broadcasts.close_plan_shard`), so each shard is counted done exactly once.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.models import Model

from chalicelib import resources
from chalicelib.domain.plan_shards import PlanShard, SenderRange
from chalicelib.store.broadcast_base import BroadcastBase
from chalicelib.store.dynamo import Conflict, is_condition_failure
from chalicelib.store.tables import on_table


@on_table(resources.DATA)
class PlanShardItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    shard = NumberAttribute()
    low = UnicodeAttribute(null=True)
    high = UnicodeAttribute(null=True)
    page = NumberAttribute(default=0)
    cursor = UnicodeAttribute(null=True)
    state = UnicodeAttribute(null=True)
    done = NumberAttribute(default=0)


def shard_sk(shard: int) -> str:
    return f"plan#{shard:02d}"


def shard_item(pk: str, shard: int, senders: SenderRange) -> PlanShardItem:
    """A new shard at page 0 for `senders`."""
    return PlanShardItem(
        pk, shard_sk(shard), shard=shard, low=senders.low or None, high=senders.high or None, page=0, done=0
    )


def _to_shard(item: PlanShardItem) -> PlanShard:
    return PlanShard(
        shard=int(item.shard),
        senders=SenderRange(item.low or "", item.high or ""),
        page=int(item.page or 0),
        cursor=item.cursor or "",
        state=item.state or "",
        done=bool(item.done),
    )


class BroadcastPlans(BroadcastBase):
    """The planning shards of a broadcast (part of `BroadcastStore`)."""

    def plan_shards(self, broadcast_id: str) -> list[PlanShard]:
        """Every shard of the broadcast, in shard order (one strongly consistent Query)."""
        items = PlanShardItem.query(self._pk(broadcast_id), PlanShardItem.sk.startswith("plan#"), consistent_read=True)
        return [_to_shard(i) for i in items]

    def get_plan_shard(self, broadcast_id: str, shard: int) -> PlanShard | None:
        try:
            return _to_shard(PlanShardItem.get(self._pk(broadcast_id), shard_sk(shard), consistent_read=True))
        except DoesNotExist:
            return None

    def save_shard_checkpoint(self, broadcast_id: str, shard: int, *, page: int, cursor: str, state: str) -> None:
        """Record that the shard planned page `page - 1`: the cursor and planner state after it. Raises Conflict when
        the stored page is not `page - 1` (another planner of the shard got there first)."""
        item = PlanShardItem(self._pk(broadcast_id), shard_sk(shard))
        try:
            item.update(
                actions=[
                    PlanShardItem.page.set(page),
                    PlanShardItem.cursor.set(cursor or None),
                    PlanShardItem.state.set(state),
                ],
                condition=(PlanShardItem.page == page - 1) & (PlanShardItem.done == 0),
            )
        except UpdateError as error:
            if is_condition_failure(error):
                raise Conflict(f"broadcast {broadcast_id}: shard {shard} page {page - 1} already planned") from None
            raise
