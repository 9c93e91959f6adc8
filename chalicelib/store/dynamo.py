"""What every store module shares about DynamoDB: pages and their opaque cursors, recognising a write whose condition
did not hold, batch writes that survive throttling, and set ADDs on many items at once.

Cursors are URL-safe base64 of compact JSON: opaque to callers, never parsed outside the store, and a cursor that
does not decode is an `InvalidCursor` (a `ValueError`). Whoever decodes a cursor still checks that its content is
one it could have handed out (a tenant's partition, a known filter).
"""

from __future__ import annotations

import base64
import json
import random
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pynamodb.exceptions import TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib.config import Settings
from chalicelib.domain import strict_json
from chalicelib.store.tables import shared_connection

T = TypeVar("T")

BATCH_WRITE_MAX = 25
TRANSACT_WRITE_MAX = 100
"""DynamoDB's limit of actions in one TransactWriteItems."""
KEY_ATTRIBUTES = frozenset({"pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"})
"""Every key attribute of every table and index (the single-table design's names)."""
KEY_VALUE_MAX_BYTES = 1024
NUMBER = re.compile(r"-?[0-9]{1,38}")
CONDITION_FAILED = "ConditionalCheckFailedException"
TRANSACTION_CONDITION_FAILED = "ConditionalCheckFailed"
TRANSACTION_CONFLICT = "TransactionConflict"


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing and the cursor of the next (None at the end)."""

    items: list[T]
    cursor: str | None


class InvalidCursor(ValueError):
    """A paging cursor the store did not hand out."""


class Conflict(RuntimeError):
    """A conditional write lost: the item is not in the state the caller read."""


def encode_cursor(value: Any) -> str | None:
    """An opaque cursor holding a JSON value (e.g. a LastEvaluatedKey); None for an empty value."""
    if not value:
        return None
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str | None) -> Any:
    """The value `encode_cursor` put in `cursor` (None for no cursor); raises InvalidCursor if it does not decode."""
    if not cursor:
        return None
    try:
        return strict_json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError:
        raise InvalidCursor("invalid cursor") from None


def decode_key(
    cursor: str | None, partition: tuple[str, str], sort_prefix: tuple[str, str] | None = None
) -> dict[str, Any] | None:
    """The LastEvaluatedKey in a cursor (None for no cursor), checked to be one the Query could have handed out: key
    attributes only, each a short string or number, `partition` = (attribute, value) the Query's own partition, every
    other partition key of the same tenant, and the sort key within `sort_prefix` when the Query has one. A cursor
    that is tampered with, or taken from another listing or tenant, is an `InvalidCursor`, never a start key."""
    key = decode_cursor(cursor)
    if key is None:
        return None
    if not isinstance(key, dict) or not 2 <= len(key) <= len(KEY_ATTRIBUTES) or not set(key) <= KEY_ATTRIBUTES:
        raise InvalidCursor("invalid cursor")
    for value in key.values():
        if not _is_key_value(value):
            raise InvalidCursor("invalid cursor")
    name, expected = partition
    if key.get(name) != {"S": expected}:
        raise InvalidCursor("invalid cursor")
    tenant = expected.split("#", 1)[0] + "#"
    if any(attr.endswith("pk") and not value.get("S", "").startswith(tenant) for attr, value in key.items()):
        raise InvalidCursor("invalid cursor")
    if sort_prefix is not None and not key.get(sort_prefix[0], {}).get("S", "").startswith(sort_prefix[1]):
        raise InvalidCursor("invalid cursor")
    return key


def _is_key_value(value: Any) -> bool:
    if not isinstance(value, dict) or len(value) != 1:
        return False
    ((kind, raw),) = value.items()
    if kind == "S":
        return isinstance(raw, str) and 0 < len(raw.encode("utf-8", "surrogatepass")) <= KEY_VALUE_MAX_BYTES
    return kind == "N" and isinstance(raw, str) and NUMBER.fullmatch(raw) is not None


def failed_conditions(error: TransactWriteError) -> list[bool]:
    """Per item of a cancelled transaction, in request order: whether its condition is what failed."""
    return [r is not None and r.code == TRANSACTION_CONDITION_FAILED for r in (error.cancellation_reasons or [])]


def is_transaction_conflict(error: TransactWriteError) -> bool:
    """Whether a transaction was cancelled because another request was writing one of its items at the same time."""
    return any(r is not None and r.code == TRANSACTION_CONFLICT for r in (error.cancellation_reasons or []))


def is_condition_failure(error: Exception) -> bool:
    """Whether a write failed because a condition did not hold: a single-item write's ConditionalCheckFailed, or a
    transaction cancelled by at least one item's condition. Anything else (throttling, validation) is not."""
    if isinstance(error, TransactWriteError):
        return any(failed_conditions(error))
    return getattr(error, "cause_response_code", None) == CONDITION_FAILED


class BatchWriter:
    """Puts and deletes of items of one table, sent 25 per BatchWriteItem; use it as a context manager.

    Unprocessed items (DynamoDB's answer to a hot partition) are sent again after an exponential backoff with jitter;
    after `max_attempts` the writer raises, and since every write is a put or delete of a deterministic key the caller
    can simply run the whole batch again. Every table here is keyed by `pk` and `sk`.
    """

    def __init__(
        self,
        client: Any,
        table_name: str,
        max_attempts: int = 8,
        base_delay: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client, self.table_name = client, table_name
        self.max_attempts, self.base_delay, self.sleep = max_attempts, base_delay, sleep
        self.pending: list[dict[str, Any]] = []
        self.requests = self.retries = self.written = 0

    def put(self, item: Model) -> None:
        self._add({"PutRequest": {"Item": item.serialize()}})

    def delete(self, item: Model) -> None:
        self._add({"DeleteRequest": {"Key": {"pk": {"S": item.pk}, "sk": {"S": item.sk}}}})

    def _add(self, request: dict[str, Any]) -> None:
        self.pending.append(request)
        if len(self.pending) == BATCH_WRITE_MAX:
            self.flush()

    def flush(self) -> None:
        batch, self.pending = self.pending, []
        for attempt in range(self.max_attempts):
            if not batch:
                return
            if attempt:
                self.retries += 1
                self.sleep(random.uniform(0, self.base_delay * 2**attempt))
            self.requests += 1
            answer = self.client.batch_write_item(RequestItems={self.table_name: batch})
            unprocessed = answer.get("UnprocessedItems", {}).get(self.table_name, [])
            self.written += len(batch) - len(unprocessed)
            batch = unprocessed
        if batch:
            raise RuntimeError(f"{len(batch)} items still unprocessed after {self.max_attempts} attempts")

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.flush()


def batch_writer(model: type[Model], settings: Settings) -> BatchWriter:
    """A batch writer on the table `model` is bound to (call `bind_models(settings)` first)."""
    return BatchWriter(shared_connection(settings).client, model.Meta.table_name)


def add_to_each(
    items: Sequence[Model],
    action: Any,
    settings: Settings,
    *,
    workers: int = 8,
    attempts: int = 5,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Apply one idempotent update `action` (a set ADD) to each item, creating the items that do not exist.

    DynamoDB cannot batch updates except in TransactWriteItems: with `RECEIPT_WRITES=transactions` (the default) they
    go 100 at a time, 100 times fewer requests for twice the write units (the transaction's atomicity is not the
    point: every ADD stands alone); with `updates`, one UpdateItem each, asking nothing back. Chunks run on `workers`
    threads. Repeating an ADD changes nothing, so a transaction cancelled by another writer of one of its items
    (TransactionConflict) is simply sent again after a jittered backoff, up to `attempts` times."""
    connection = shared_connection(settings)

    def transact(chunk: Sequence[Model]) -> None:
        for attempt in range(attempts):
            try:
                with TransactWrite(connection=connection) as tx:
                    for item in chunk:
                        tx.update(item, actions=[action])
                return
            except TransactWriteError as error:
                if not is_transaction_conflict(error) or attempt == attempts - 1:
                    raise
                sleep(random.uniform(0, 0.05 * 2**attempt))

    def update(chunk: Sequence[Model]) -> None:
        (item,) = chunk
        type(item)._get_connection().update_item(item.pk, item.sk, actions=[action], return_values="NONE")

    write, size = (transact, TRANSACT_WRITE_MAX) if settings.receipt_writes == "transactions" else (update, 1)
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    if len(chunks) <= 1:
        list(map(write, chunks))
        return
    with ThreadPoolExecutor(max_workers=min(workers, len(chunks)), thread_name_prefix="set-add") as pool:
        list(pool.map(write, chunks))
