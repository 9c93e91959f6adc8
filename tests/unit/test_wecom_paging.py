"""WeCom's cursor paging, written once."""

from __future__ import annotations

from chalicelib.wecom.paging import cursor_pages


def pager(pages: list[dict]) -> tuple[list[dict], object]:
    sent: list[dict] = []

    def call(request: dict) -> dict:
        sent.append(request)
        return pages[len(sent) - 1]

    return sent, call


def test_follows_next_cursor_until_there_is_none_and_sends_no_cursor_first():
    sent, call = pager([{"n": 1, "next_cursor": "c1"}, {"n": 2, "next_cursor": "c2"}, {"n": 3, "next_cursor": ""}])
    assert [p["n"] for p in cursor_pages(call, {"limit": 100})] == [1, 2, 3]
    assert sent == [{"limit": 100}, {"limit": 100, "cursor": "c1"}, {"limit": 100, "cursor": "c2"}]


def test_is_last_ends_the_reading_even_with_a_cursor():
    sent, call = pager([{"n": 1, "next_cursor": "c1", "is_last": True}])
    assert [p["n"] for p in cursor_pages(call, {})] == [1]
    assert len(sent) == 1


def test_stopping_the_iteration_stops_the_calls():
    sent, call = pager([{"n": 1, "next_cursor": "c1"}, {"n": 2, "next_cursor": "c2"}])
    assert next(iter(cursor_pages(call, {}))) == {"n": 1, "next_cursor": "c1"}
    assert len(sent) == 1
