"""Make moto's base-table Query read only the items of the queried partition that can be in the page.

moto answers a Query by sorting every item of the table (with Python-level comparisons of its typed values) and
keeping those of the partition, so each Query costs time in proportion to the whole table: a 100,000-customer tenant
made every audience page, batch listing and checkpoint read slower by orders of magnitude than DynamoDB, whose Query
touches one partition and reads from the start key on. Here the query runs on a view of the table holding only the
queried partition, cut down (when every sort key is a string, as in every table this project declares) to the keys
that satisfy the sort-key condition, come after the exclusive start key, and fit in the page (`Limit` + 1, so moto
still sees that more follow). moto's own code then does the conditions, filters, paging and projection on that view,
so answers are unchanged. A Query on an index gets the items whose index hash key matches (moto would sort every
item of the table first: seconds per Query at 500,000 items, under the lock that serialises DynamoDB, so a schedule's
once-a-minute index Query stalled every handler). A run of index Queries with no write between them (a sync's
reconciliation, one Query per employee) is answered from a map of the index's hash keys, built in one pass and kept
until the table is next written (every put, delete and update counts), so it walks the table twice, not once per
Query. Conditions this module does not order (none in this project) are left as moto does them.

The view is swapped in for the duration of one call, which is safe only because the local stack's moto server takes
DynamoDB requests one at a time (`local.aws.SerialDynamoDB`); that server installs it while it runs and removes it when
it stops, so in-process moto (the integration tests) never runs with it.
"""

from __future__ import annotations

import bisect
import copy
import functools
from collections.abc import Iterator
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table

_ORIGINAL_QUERY = Table.query
_ORIGINAL_TRANSACT = DynamoDBBackend.transact_write_items
_ORIGINAL_PUT = Table.put_item
_ORIGINAL_DELETE = Table.delete_item
_ORIGINAL_UPDATE = DynamoDBBackend.update_item
_POSITIONAL = (
    "range_comparison",
    "range_objs",
    "limit",
    "exclusive_start_key",
    "scan_index_forward",
    "projection_expressions",
    "index_name",
)
"""`Table.query`'s arguments after hash_key, in the order moto passes them positionally."""
_KEYWORDS = frozenset(
    {*_POSITIONAL, "consistent_read", "filter_expression", "hash_key_conditions", "range_key_conditions"}
)
_COMPARISONS = {"=": "EQ", "<": "LT", "<=": "LE", ">": "GT", ">=": "GE"}


def key_span(keys: list[str], comparison: str | None, operands: list[str]) -> tuple[int, int] | None:
    """The slice of sorted `keys` that a sort-key condition keeps, or None for a condition not handled here."""
    if not comparison:
        return 0, len(keys)
    op = _COMPARISONS.get(comparison, comparison.upper())
    if op == "BETWEEN" and len(operands) == 2:
        return bisect.bisect_left(keys, operands[0]), bisect.bisect_right(keys, operands[1])
    if len(operands) != 1:
        return None
    (value,) = operands
    if op == "EQ":
        return bisect.bisect_left(keys, value), bisect.bisect_right(keys, value)
    if op == "LT":
        return 0, bisect.bisect_left(keys, value)
    if op == "LE":
        return 0, bisect.bisect_right(keys, value)
    if op == "GT":
        return bisect.bisect_right(keys, value), len(keys)
    if op == "GE":
        return bisect.bisect_left(keys, value), len(keys)
    if op == "BEGINS_WITH":
        start = end = bisect.bisect_left(keys, value)
        while end < len(keys) and keys[end].startswith(value):
            end += 1
        return start, end
    return None


def page_view(table: Table, partition: dict[Any, Any], arguments: dict[str, Any]) -> dict[Any, Any]:
    """The items of `partition` (sort key → item) that the Query can return in this page, or all of them when the
    query is one this module does not cut (non-string sort keys, several sort-key conditions, legacy filters)."""
    if set(arguments) - _KEYWORDS or len(arguments.get("range_key_conditions") or ()) > 1:
        return partition
    if any(key.type != "S" for key in partition):
        return partition
    ordered = sorted(partition, key=lambda key: key.value)
    keys = [key.value for key in ordered]
    operands = [o.value for o in arguments.get("range_objs") or ()]
    if any(not isinstance(o, str) for o in operands):
        return partition
    span = key_span(keys, arguments.get("range_comparison"), operands)
    if span is None:
        return partition
    low, high = span
    forward = arguments.get("scan_index_forward", True) is not False
    start = (arguments.get("exclusive_start_key") or {}).get(table.range_key_attr, {}).get("S")
    if start is not None:
        if forward:
            low = max(low, bisect.bisect_right(keys, start))
        else:
            high = min(high, bisect.bisect_left(keys, start))
    selected = ordered[low:high] if low < high else []
    limit = arguments.get("limit")
    if limit:
        selected = selected[: limit + 1] if forward else selected[max(0, len(selected) - limit - 1) :]
    return {key: partition[key] for key in selected}


def index_view(table: Table, index_name: str, hash_key: Any) -> dict[Any, Any] | None:
    """The table's items whose `index_name` hash key equals `hash_key`, in the table's own layout; None when the index
    is unknown or its key has several attributes (moto then answers as it does). The second Query of an index with no
    write to the table since the first builds a map of all its hash keys, which answers until the next write; a Query
    right after a write just picks its own items (building a map per Query would cost more while writes go on)."""
    index = next((i for i in table.all_indexes() if i.name == index_name), None)
    hashes = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"] if index else []
    if len(hashes) != 1:
        return None
    (attribute,) = hashes
    wanted = (hash_key.type, hash_key.value)
    maps = table.__dict__.setdefault("_index_maps", {})
    generation = writes(table)
    seen = maps.get(index_name)
    if seen is not None and seen[0] == generation:
        if seen[1] is None:
            buckets: dict[tuple[str, Any], dict[Any, Any]] = {}
            for value, key, sort_key, item in _indexed(table, attribute):
                _place(buckets.setdefault(value, {}), table, key, sort_key, item)
            seen = maps[index_name] = (generation, buckets)
        return seen[1].get(wanted, {})
    maps[index_name] = (generation, None)
    view: dict[Any, Any] = {}
    for value, key, sort_key, item in _indexed(table, attribute):
        if value == wanted:
            _place(view, table, key, sort_key, item)
    return view


def _indexed(table: Table, attribute: str) -> Iterator[tuple[tuple[str, Any], Any, Any, Any]]:
    """(the value of `attribute`, hash key, sort key, item) of every item that has it."""
    for key, partition in table.items.items():
        for sort_key, item in partition.items() if table.range_key_attr else [(None, partition)]:
            value = item.attrs.get(attribute)
            if value is not None:
                yield (value.type, value.value), key, sort_key, item


def _place(view: dict[Any, Any], table: Table, key: Any, sort_key: Any, item: Any) -> None:
    """Put `item` into `view` laid out as the table's items are (hash key → sort key → item, or hash key → item)."""
    if table.range_key_attr:
        view.setdefault(key, {})[sort_key] = item
    else:
        view[key] = item


def writes(table: Table) -> int:
    """How many writes `table` has had; an index map built at one count is good while the count is unchanged."""
    return table.__dict__.get("_writes", 0)


def written(table: Table) -> None:
    """Count one write to `table`."""
    table.__dict__["_writes"] = writes(table) + 1


def _put(self: Table, *args: Any, **kwargs: Any) -> Any:
    try:
        return _ORIGINAL_PUT(self, *args, **kwargs)
    finally:
        written(self)


def _delete(self: Table, *args: Any, **kwargs: Any) -> Any:
    try:
        return _ORIGINAL_DELETE(self, *args, **kwargs)
    finally:
        written(self)


def _update(self: DynamoDBBackend, table_name: str, *args: Any, **kwargs: Any) -> Any:
    """An update changes its item in place: the table's index maps are stale after it."""
    try:
        return _ORIGINAL_UPDATE(self, table_name, *args, **kwargs)
    finally:
        written(self.get_table(table_name))


def install() -> None:
    """Patch moto's Table.query in this process (again is harmless)."""
    original = _ORIGINAL_QUERY

    @functools.wraps(original)
    def query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        arguments = dict(zip(_POSITIONAL, args, strict=False)) | kwargs
        if hash_key is None:
            return original(self, hash_key, *args, **kwargs)
        everything = self.items
        if arguments.get("index_name"):
            view = index_view(self, arguments["index_name"], hash_key)
            if view is None:
                return original(self, hash_key, *args, **kwargs)
            self.items = view
        else:
            partition = everything.get(hash_key)
            if partition is None:
                self.items = {}
            elif not self.range_key_attr:
                self.items = {hash_key: partition}
            else:
                self.items = {hash_key: page_view(self, partition, arguments)}
        try:
            return original(self, hash_key, *args, **kwargs)
        finally:
            self.items = everything

    Table.query = query
    Table.put_item = _put
    Table.delete_item = _delete
    DynamoDBBackend.update_item = _update


def uninstall() -> None:
    """Give moto its own Table.query, writes and transactions back."""
    Table.query = _ORIGINAL_QUERY
    Table.put_item = _ORIGINAL_PUT
    Table.delete_item = _ORIGINAL_DELETE
    DynamoDBBackend.update_item = _ORIGINAL_UPDATE
    DynamoDBBackend.transact_write_items = _ORIGINAL_TRANSACT


def _touched_partitions(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Table, Any]]:
    """(table, hash key) of every item a transaction names."""
    touched = []
    for entry in transact_items:
        for op in entry.values():
            table = backend.tables.get(op.get("TableName"))
            key = op.get("Key") or op.get("Item") or {}
            if table is not None and table.hash_key_attr in key:
                touched.append((table, DynamoType(key[table.hash_key_attr])))
    return touched


def transact_backing_up_partitions(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> Any:
    """moto's transaction, backing up only the partitions it names (moto deep-copies every table it touches: seconds
    per transaction at tens of thousands of items) and restoring those on failure. Safe only while DynamoDB requests
    run one at a time (`local.aws.SerialDynamoDB`, or the test fixture's lock)."""
    backup = [(t, h, copy.deepcopy(t.items.get(h))) for t, h in _touched_partitions(self, transact_items)]
    Table.__deepcopy__ = _same_table  # type: ignore[attr-defined]
    try:
        return _ORIGINAL_TRANSACT(self, transact_items)
    except Exception:
        for table, hash_key, partition in reversed(backup):
            if partition is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = partition
            written(table)
        raise
    finally:
        del Table.__deepcopy__


def install_transactions() -> None:
    """Make moto's transactions back up only the partitions they name (`transact_backing_up_partitions`)."""
    DynamoDBBackend.transact_write_items = transact_backing_up_partitions


def _same_table(table: Table, memo: dict[int, Any]) -> Table:
    return table
