"""A broadcast's dispatch batches and their recipient parts, in the broadcast's partition (data table).

| item | pk | sk |
|---|---|---|
| batch | `<t>#bc#<id>` | `batch#<batch_id>` |
| batch part (recipients) | `<t>#bc#<id>` | `part#<batch_id>#<part:04d>` |

Batches follow `domain.dispatch_state`: every transition is a conditional write on the version read, so two workers
never both move a batch. Parts are rewritten with the same content when a planning page is replayed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, PutError, UpdateError
from pynamodb.models import Model

from chalicelib import resources
from chalicelib.domain.broadcasts import Batch
from chalicelib.domain.dispatch_state import BatchState, BatchStatus
from chalicelib.store.broadcast_base import BroadcastBase
from chalicelib.store.dynamo import Conflict, Page, batch_writer, decode_key, encode_cursor, is_condition_failure
from chalicelib.store.tables import on_table


@on_table(resources.DATA)
class BatchItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    batch_id = UnicodeAttribute()
    sender = UnicodeAttribute()
    sequence = NumberAttribute()
    size = NumberAttribute()
    parts = NumberAttribute()
    status = UnicodeAttribute()
    version = NumberAttribute()
    attempts = NumberAttribute(default=0)
    throttled = NumberAttribute(null=True)
    claimed_by = UnicodeAttribute(null=True)
    lease_until = NumberAttribute(default=0)
    attempt_at = NumberAttribute(default=0)
    msgid = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    fail_list = UnicodeAttribute(null=True)


@on_table(resources.DATA)
class PartItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    recipients = UnicodeAttribute()


def _to_batch(broadcast_id: str, item: BatchItem) -> Batch:
    state = BatchState(
        status=BatchStatus(item.status),
        version=int(item.version),
        attempts=int(item.attempts or 0),
        throttled=int(item.throttled or 0),
        claimed_by=item.claimed_by or "",
        lease_until=float(item.lease_until or 0),
        msgid=item.msgid or "",
        reason=item.reason or "",
        fail_list=tuple(json.loads(item.fail_list)) if item.fail_list else (),
    )
    return Batch(
        broadcast_id,
        item.batch_id,
        item.sender,
        int(item.sequence),
        int(item.size),
        int(item.parts),
        state,
        float(item.attempt_at or 0),
    )


class BroadcastBatches(BroadcastBase):
    """Batches and parts of a broadcast (part of `BroadcastStore`)."""

    def put_parts(self, broadcast_id: str, parts: Iterable[tuple[str, int, list[str]]]) -> int:
        """Write batch parts `(batch_id, part, recipients)`; rewriting one writes the same content (idempotent)."""
        pk = self._pk(broadcast_id)
        count = 0
        with batch_writer(PartItem, self.settings) as batch:
            for batch_id, part, recipients in parts:
                batch.put(PartItem(pk, f"part#{batch_id}#{part:04d}", recipients="\n".join(recipients)))
                count += 1
        return count

    def put_batches(self, broadcast_id: str, batches: Iterable[tuple[str, str, int, int, int]]) -> list[str]:
        """Create pending batches `(batch_id, sender, sequence, size, parts)`; an existing one is left as it is (a
        replayed planning page must not reset a batch already sent). Returns the ids newly created."""
        pk = self._pk(broadcast_id)
        created = []
        for batch_id, sender, sequence, size, parts in batches:
            item = BatchItem(
                pk,
                f"batch#{batch_id}",
                batch_id=batch_id,
                sender=sender,
                sequence=sequence,
                size=size,
                parts=parts,
                status=BatchStatus.PENDING.value,
                version=0,
            )
            try:
                item.save(condition=BatchItem.pk.does_not_exist())
                created.append(batch_id)
            except PutError as error:
                if not is_condition_failure(error):
                    raise
        return created

    def get_batch(self, broadcast_id: str, batch_id: str) -> Batch | None:
        try:
            item = BatchItem.get(self._pk(broadcast_id), f"batch#{batch_id}", consistent_read=True)
        except DoesNotExist:
            return None
        return _to_batch(broadcast_id, item)

    def batches(self, broadcast_id: str, limit: int | None = None, cursor: str | None = None) -> Page[Batch]:
        """The broadcast's batches in id order (paged when `limit` is given)."""
        result = BatchItem.query(
            self._pk(broadcast_id),
            BatchItem.sk.startswith("batch#"),
            limit=limit,
            last_evaluated_key=decode_key(cursor, ("pk", self._pk(broadcast_id)), ("sk", "batch#")),
            consistent_read=True,
        )
        items = [_to_batch(broadcast_id, i) for i in result]
        more = limit is not None and len(items) == limit
        return Page(items, encode_cursor(result.last_evaluated_key) if more else None)

    def recipients(self, broadcast_id: str, batch: Batch) -> list[str]:
        """A batch's recipients, the concatenation of its parts (one Query)."""
        items = PartItem.query(
            self._pk(broadcast_id), PartItem.sk.startswith(f"part#{batch.batch_id}#"), consistent_read=True
        )
        recipients: list[str] = []
        for item in items:
            recipients.extend(r for r in item.recipients.split("\n") if r)
        return recipients

    def transition(self, batch: Batch, new: BatchState, *, attempt_at: float | None = None) -> Batch:
        """Write `new` over `batch.state` if the stored version is still the one read; raises Conflict otherwise."""
        item = BatchItem(self._pk(batch.broadcast_id), f"batch#{batch.batch_id}")
        actions = [
            BatchItem.status.set(new.status.value),
            BatchItem.version.set(new.version),
            BatchItem.attempts.set(new.attempts),
            BatchItem.throttled.set(new.throttled),
            BatchItem.claimed_by.set(new.claimed_by or None),
            BatchItem.lease_until.set(new.lease_until),
            BatchItem.msgid.set(new.msgid or None),
            BatchItem.reason.set(new.reason or None),
            BatchItem.fail_list.set(json.dumps(list(new.fail_list)) if new.fail_list else None),
        ]
        if attempt_at is not None:
            actions.append(BatchItem.attempt_at.set(attempt_at))
        try:
            item.update(actions=actions, condition=BatchItem.version == batch.state.version)
        except UpdateError as error:
            if is_condition_failure(error):
                raise Conflict(f"batch {batch.batch_id} moved past version {batch.state.version}") from None
            raise
        return replace(batch, state=new, attempt_at=batch.attempt_at if attempt_at is None else attempt_at)
