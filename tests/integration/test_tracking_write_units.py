"""The bulk fold's promise on moto: readers' batches, grouped as the BEACONS queue's window groups them, cost at most
0.2× the write units of one write per event (the naive baseline, measured the same way in the same test)."""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib import resources
from chalicelib.domain import beacons
from chalicelib.services.beacon_ingest import fold_batches
from chalicelib.store import tracking
from local.request_meter import Meter
from local.tracking_traffic import reading

WINDOW_MS = resources.BEACONS.batching_window * 1000
READERS = 40


def messages(tenant_id: str, rng: random.Random) -> list[tuple[int, dict]]:
    """The readers' batches as the intake queues them, in arrival order."""
    start = int(time.time() * 1000) - 3_600_000
    queued = []
    for n in range(READERS):
        identified = n % 2 == 0
        for sent_ms, events in reading(rng, start + rng.randint(0, 120_000)):
            session = f"reader-{n:04d}"
            queued.append(
                (
                    sent_ms,
                    {
                        "kind": "beacons",
                        "tenant_id": tenant_id,
                        "view_id": beacons.view_id(f"share-{n % 3}", session),
                        "material_id": "m-1",
                        "sharer": f"emp{n % 3}",
                        "campaign": "bc-1" if n % 2 else "",
                        "session": session,
                        "customer": f"wm{n:04d}" if identified else "",
                        "viewer_key": f"c:wm{n:04d}" if identified else f"s:{session}",
                        "consented": identified,
                        "received_ms": sent_ms,
                        "events": [
                            [
                                e["seq"],
                                e["type"],
                                e["at"],
                                e.get("visible_ms", 0),
                                e.get("depth", 0),
                                e.get("action", ""),
                            ]
                            for e in events
                        ],
                    },
                )
            )
    return sorted(queued, key=lambda q: q[0])


def fold_in_windows(queued: list[tuple[int, dict]]) -> None:
    window, window_end = [], queued[0][0] + WINDOW_MS
    for sent_ms, message in queued:
        if sent_ms >= window_end:
            fold_batches(window)
            window, window_end = [], sent_ms + WINDOW_MS
        window.append(message)
    fold_batches(window)


def naive(queued: list[tuple[int, dict]]) -> None:
    client = tracking.dynamodb()
    for _, message in queued:
        for seq, kind, at, visible, depth, action in message["events"]:
            item = {
                "pk": {"S": f"acme#naive#{message['view_id']}"},
                "sk": {"S": f"{seq:06d}"},
                "type": {"S": kind},
                "at": {"N": str(at)},
                "visible_ms": {"N": str(visible)},
                "depth": {"N": str(depth)},
                "action": {"S": action or "-"},
            }
            client.put_item(TableName=resources.DATA.name, Item=item)


@pytest.fixture
def meter(aws):
    meter = Meter()
    meter.install()
    tracking._client.cache_clear()
    yield meter
    tracking._client.cache_clear()


def test_folding_costs_at_most_a_fifth_of_one_write_per_event(meter):
    queued = messages("acme", random.Random(5))
    events = sum(len(m["events"]) for _, m in queued)
    with ThreadPoolExecutor(1) as measured:
        measured.submit(fold_in_windows, queued).result()
        folded = meter.snapshot()["wcu"]
        meter.reset()
        measured.submit(naive, queued).result()
        one_per_event = meter.snapshot()["wcu"]
    assert one_per_event >= events
    assert folded <= 0.2 * one_per_event, (folded, one_per_event, events)
