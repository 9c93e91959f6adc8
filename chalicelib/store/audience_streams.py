"""A tenant's audience as pages of candidate rows sorted by sender, merged from Query streams, resumable by cursor.

A tag's audience (or everyone's: the pseudo tag `_all`) is its 16 membership shards merged by sort key
(`<userid>#<ext>`), so rows arrive sorted by sender and no partition of a 10 M-customer tenant gets hot; a channel's
audience merges its states' gsi2 partitions the same way; an employee audience reads each employee's gsi1 (by added
time) one after another. The cursor records the last sort key consumed per stream and names its source, so a page's
cursor resumes exactly after it and is refused for another source.

A planning shard reads only the rows of its senders (`SenderRange`): every sort key begins with `<userid>#`, so a
range of userids is a range of sort keys in every stream (`<low>#` up to `<high>#`, which no row equals), read by the
key condition itself; an employee audience keeps the employees in the range.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.audience import AudienceRow, AudienceSource, SourceKind
from chalicelib.domain.plan_shards import EVERY_SENDER, SenderRange
from chalicelib.store.customer_base import CustomerBase
from chalicelib.store.dynamo import KEY_VALUE_MAX_BYTES, InvalidCursor, decode_cursor, encode_cursor
from chalicelib.store.relations import FollowItem, TagMemberItem


@dataclass(frozen=True)
class AudiencePage:
    """A page of candidate rows (sorted by sender), the cursor after it, and whether the stream is finished."""

    rows: list[AudienceRow]
    cursor: str
    done: bool


class AudienceStreams(CustomerBase):
    """The audience streams of `CustomerStore`."""

    def audience_pages(
        self,
        source: AudienceSource,
        cursor: str | None = None,
        page_size: int = 1000,
        senders: SenderRange = EVERY_SENDER,
    ) -> Iterator[AudiencePage]:
        """Pages of candidate rows for `source` whose sender is in `senders`, sorted by sender, resumable from any
        page's cursor."""
        if source.kind is SourceKind.EXPLICIT:
            raise ValueError("an explicit audience has no stream: read its cards and use audience.explicit_rows")
        reader = _MergedReader(self._streams(source, senders), _decode_cursor(cursor, source), page_size)
        while True:
            rows, done = reader.next_page()
            yield AudiencePage(rows, _encode_cursor(reader.positions, source), done)
            if done:
                return

    def _streams(self, source: AudienceSource, senders: SenderRange) -> list[_Stream]:
        bounds = (f"{senders.low}#" if senders.low else "", f"{senders.high}#" if senders.high else "")
        if source.kind in (SourceKind.TAGS, SourceKind.ALL):
            return [
                _Stream(f"t:{tag}:{shard}", 0, _tag_fetcher(self.keys.key("tag", tag, f"{shard:02d}"), bounds))
                for tag in source.keys
                for shard in range(self.shards)
            ]
        if source.kind is SourceKind.STATES:
            return [
                _Stream(f"s:{state}", 0, _state_fetcher(self.keys.key("state", state), bounds)) for state in source.keys
            ]
        lo = f"{source.added_from or 0:010d}#"
        hi = f"{source.added_to:010d}#~" if source.added_to is not None else "~"
        return [
            _Stream(f"e:{userid}", group, _employee_fetcher(self.keys.key("emp", userid), lo, hi))
            for group, userid in enumerate(source.keys)
            if userid in senders
        ]


Fetch = Callable[[str | None, int], list[tuple[str, AudienceRow]]]
"""Reads up to `limit` (sort key, row) pairs after a sort key (None: from the start)."""


def _key_condition(attribute: Any, after: str | None, bounds: tuple[str, str]) -> Any:
    """Sort keys after `after` (from the lower bound when None) and below the upper bound (an empty bound: open)."""
    low, high = bounds
    start = after + "\x00" if after is not None else low
    if start and high:
        return attribute.between(start, high)
    if start:
        return attribute >= start
    if high:
        return attribute <= high
    return None


def _tag_fetcher(pk: str, bounds: tuple[str, str]) -> Fetch:
    def fetch(after: str | None, limit: int) -> list[tuple[str, AudienceRow]]:
        items = TagMemberItem.query(pk, _key_condition(TagMemberItem.sk, after, bounds), limit=limit)
        return [(i.sk, AudienceRow(i.external_userid, i.userid)) for i in items]

    return fetch


def _state_fetcher(pk: str, bounds: tuple[str, str]) -> Fetch:
    def fetch(after: str | None, limit: int) -> list[tuple[str, AudienceRow]]:
        items = FollowItem.by_state.query(pk, _key_condition(FollowItem.gsi2sk, after, bounds), limit=limit)
        return [(i.gsi2sk, AudienceRow(i.external_userid, i.userid)) for i in items]

    return fetch


def _employee_fetcher(pk: str, lo: str, hi: str) -> Fetch:
    def fetch(after: str | None, limit: int) -> list[tuple[str, AudienceRow]]:
        start = lo if after is None else after + "\x00"
        items = FollowItem.by_employee.query(pk, FollowItem.gsi1sk.between(start, hi), limit=limit)
        return [(i.gsi1sk, AudienceRow(i.external_userid, i.userid)) for i in items]

    return fetch


@dataclass
class _Stream:
    """One Query stream: rows after `after` in sort-key order, fetched in chunks."""

    name: str
    group: int
    fetch: Fetch
    after: str | None = None
    done: bool = False
    buffer: list[tuple[str, AudienceRow]] = field(default_factory=list)

    def head(self, chunk: int) -> tuple[str, AudienceRow] | None:
        if not self.buffer and not self.done:
            self.buffer = self.fetch(self.after, chunk)
            self.buffer.reverse()
            self.done = len(self.buffer) < chunk
        return self.buffer[-1] if self.buffer else None


class _MergedReader:
    """Merges streams by (group, sort key): tag shards and states interleave by userid#ext; employees follow one
    another. Positions record the last sort key consumed per stream, so any page's cursor resumes exactly there."""

    def __init__(self, streams: list[_Stream], positions: dict[str, str | None], page_size: int) -> None:
        self.streams = streams
        for stream in streams:
            stream.after = positions.get(stream.name)
            stream.done = stream.after == _DONE
        self.page_size = page_size
        self.chunk = max(50, min(1000, 2 * page_size // max(1, len(streams))))
        self.heap: list[tuple[int, str, int]] = []
        for index in range(len(streams)):
            self._push(index)

    def _push(self, index: int) -> None:
        stream = self.streams[index]
        head = stream.head(self.chunk)
        if head is None:
            stream.after, stream.done = _DONE, True
        else:
            heapq.heappush(self.heap, (stream.group, head[0], index))

    @property
    def positions(self) -> dict[str, str | None]:
        return {s.name: s.after for s in self.streams}

    def next_page(self) -> tuple[list[AudienceRow], bool]:
        rows: list[AudienceRow] = []
        while self.heap and len(rows) < self.page_size:
            _, sort_key, index = heapq.heappop(self.heap)
            stream = self.streams[index]
            rows.append(stream.buffer.pop()[1])
            stream.after = sort_key
            self._push(index)
        return rows, not self.heap


_DONE = "\uffff"


def _encode_cursor(positions: dict[str, str | None], source: AudienceSource) -> str:
    payload = {"src": [source.kind.value, *source.keys], "pos": {k: v for k, v in positions.items() if v is not None}}
    return encode_cursor(payload)


def _decode_cursor(cursor: str | None, source: AudienceSource) -> dict[str, str | None]:
    if not cursor:
        return {}
    payload = decode_cursor(cursor)
    if not isinstance(payload, dict) or set(payload) != {"src", "pos"} or not isinstance(payload["pos"], dict):
        raise InvalidCursor("invalid cursor")
    if payload["src"] != [source.kind.value, *source.keys]:
        raise InvalidCursor("cursor belongs to another audience source")
    positions = payload["pos"]
    if not all(isinstance(after, str) and len(after) <= KEY_VALUE_MAX_BYTES for after in positions.values()):
        raise InvalidCursor("invalid cursor")
    return positions
