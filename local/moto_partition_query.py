"""Make moto's base-table Query read only the queried partition.

moto answers a Query by sorting every item of the table and keeping those of the partition, so each Query costs time
in proportion to the whole table: a 100,000-customer tenant made every audience page, batch listing and checkpoint
read slower by orders of magnitude than DynamoDB, whose Query touches one partition. Here the query runs on a view
of the table holding only the queried partition; moto's own code still does the key conditions, filters, paging and
projection, so answers are unchanged. Index queries are left as moto does them.

The view is swapped in for the duration of one call, which is safe only because the local stack's moto server takes
DynamoDB requests one at a time (`local.aws.SerialDynamoDB`); it is installed by that server, never for in-process moto.
"""

from __future__ import annotations

import functools
from typing import Any

from moto.dynamodb.models.table import Table

_installed = False
_INDEX_NAME_POSITION = 6
"""Where index_name falls in `Table.query`'s positional arguments after hash_key (moto passes it positionally)."""


def install() -> None:
    """Patch moto's Table.query once per process."""
    global _installed
    if _installed:
        return
    original = Table.query

    @functools.wraps(original)
    def query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[_INDEX_NAME_POSITION] if len(args) > _INDEX_NAME_POSITION else kwargs.get("index_name")
        if index_name or hash_key is None:
            return original(self, hash_key, *args, **kwargs)
        everything = self.items
        partition = everything.get(hash_key)
        self.items = {hash_key: partition} if partition is not None else {}
        try:
            return original(self, hash_key, *args, **kwargs)
        finally:
            self.items = everything

    Table.query = query
    _installed = True
