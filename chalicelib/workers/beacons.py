"""The BEACONS queue's handler: every record through one `Ingest` (`each_record`: a record that raises is reported
alone and comes back), then the invocation's summed counters written once. A record's view update is conditional,
so whatever of it was applied before it failed is not applied twice (see services.beacon_ingest)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib import resources
from chalicelib.services.beacon_ingest import Ingest
from chalicelib.workers.sqs_batch import each_record


def handle_beacon_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """Ingest an SQS batch; the answer lists the records that failed."""
    ingest = Ingest()
    answer = each_record(event, resources.BEACONS.logical, ingest.handle)
    ingest.flush()
    return answer
