"""Whether a stored item already says what a write would say: the comparison behind the sync's writes of only what
changed.

Items are compared as DynamoDB attribute maps (`{"name": {"S": "..."}}`, as a model serialises them and as a read
returns them), every attribute but the `volatile` ones (bookkeeping such as an event time or a version), so an
attribute added to an item later is compared without anyone listing it. Sets compare regardless of order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

SET_TYPES = ("SS", "NS", "BS")
Attributes = Mapping[str, Mapping[str, Any]]


def canonical(value: Mapping[str, Any]) -> Any:
    """A typed attribute value in a form equal for equal content: sets sorted, maps and lists canonical inside."""
    ((kind, raw),) = value.items()
    if kind in SET_TYPES:
        return kind, tuple(sorted(raw))
    if kind == "M":
        return kind, tuple(sorted((name, canonical(inner)) for name, inner in raw.items()))
    if kind == "L":
        return kind, tuple(canonical(inner) for inner in raw)
    return kind, raw


def content(attributes: Attributes, volatile: Iterable[str] = ()) -> dict[str, Any]:
    """An item's content without its volatile attributes, comparable with ==."""
    skip = frozenset(volatile)
    return {name: canonical(value) for name, value in attributes.items() if name not in skip}


def is_unchanged(stored: Attributes | None, desired: Attributes, volatile: Iterable[str] = ()) -> bool:
    """Whether writing `desired` over `stored` (None: no item) would change nothing but the volatile attributes."""
    return stored is not None and content(stored, volatile) == content(desired, volatile)
