"""Checking beacon batches event by event, and sessionising a batch into one view update."""

import pytest

from chalicelib.domain import beacons
from chalicelib.domain.beacons import BadBatch, Event

NOW = 1_800_000_000_000


def batch(events, **fields):
    return {"share": "s.1.x.y", "session": "abcdefgh", "events": events} | fields


def test_good_events_are_kept_and_bad_ones_rejected_with_reasons():
    checked = beacons.check_batch(
        batch(
            [
                {"seq": 0, "type": "open", "at": NOW},
                {"seq": 1, "type": "heartbeat", "at": NOW, "visible_ms": beacons.MAX_VISIBLE_MS + 1},
                {"seq": 2, "type": "action", "at": NOW, "action": "dance"},
                {"seq": 3, "type": "scroll", "at": NOW, "depth": True},
                {"seq": 4, "type": "open", "at": NOW, "extra": 1},
                {"seq": -1, "type": "open", "at": NOW},
                {"seq": 6, "type": "leave", "at": NOW - beacons.MAX_AGE_MS + 1, "visible_ms": 3},
            ]
        ),
        NOW,
    )
    assert [e.seq for e in checked.events] == [0, 6]
    assert [r["reason"] for r in checked.rejected] == [
        f"'visible_ms' must be 0 to {beacons.MAX_VISIBLE_MS}",
        "unknown action",
        "'depth' must be 0 to 100",
        "unknown fields: extra",
        "'seq' must be an integer from 0",
    ]


@pytest.mark.parametrize(
    "body",
    [
        [],
        batch([], session="abcdefgh"),
        batch([{"seq": 0}], session="short"),
        batch([{"seq": 0}], viewer=5),
        batch([{"seq": n, "type": "open", "at": NOW} for n in range(beacons.MAX_EVENTS + 1)]),
        batch([{"seq": 0}], spare=1),
        {"session": "abcdefgh", "events": [{"seq": 0}]},
    ],
)
def test_a_body_that_is_no_batch_is_refused_whole(body):
    with pytest.raises(BadBatch):
        beacons.check_batch(body, NOW)


def test_a_batch_folds_into_dwell_depth_actions_open_and_leave():
    events = [
        Event(0, "open", NOW),
        Event(1, "heartbeat", NOW + 5000, visible_ms=5000),
        Event(2, "scroll", NOW + 6000, depth=55),
        Event(3, "scroll", NOW + 7000, depth=30),
        Event(4, "action", NOW + 8000, action="forward"),
        Event(5, "action", NOW + 9000, action="forward"),
        Event(6, "leave", NOW + 9500, visible_ms=4500),
    ]
    delta = beacons.fold(events)
    assert (delta.opened, delta.left, delta.dwell_ms, delta.depth) == (True, True, 9500, 55)
    assert (delta.first_at, delta.last_at, delta.events) == (NOW, NOW + 9500, 7)
    assert delta.actions == {"forward": 2}
    assert beacons.depth_mark(55) == 50


def test_the_batch_key_names_the_set_of_sequence_numbers():
    one = [Event(1, "heartbeat", NOW), Event(2, "heartbeat", NOW), Event(4, "heartbeat", NOW)]
    other = [Event(1, "heartbeat", NOW), Event(3, "heartbeat", NOW), Event(4, "heartbeat", NOW)]
    assert beacons.batch_key(one) == beacons.batch_key(list(reversed(one)))
    assert beacons.batch_key(one) != beacons.batch_key(other)
    assert beacons.view_id("tok", "session-1") != beacons.view_id("tok", "session-2")
