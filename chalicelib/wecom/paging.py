"""WeCom's cursor paging, written once: a request is repeated with the `next_cursor` of the answer before it (no
cursor on the first) until an answer has none or says `is_last`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any


def cursor_pages(
    call: Callable[[dict[str, Any]], dict[str, Any]], request: Mapping[str, Any]
) -> Iterator[dict[str, Any]]:
    """Each answer of a cursor-paged API; `call` sends one request (a POST body or GET parameters). Stop iterating
    to stop reading."""
    cursor = ""
    while True:
        page = call({**request, "cursor": cursor} if cursor else dict(request))
        yield page
        cursor = str(page.get("next_cursor") or "")
        if not cursor or page.get("is_last") is True:
            return
