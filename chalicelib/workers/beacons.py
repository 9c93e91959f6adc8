"""The beacon queues' handlers.

BEACONS (bulk): the whole invocation's batches fold together (`fold_batches`: one write per view, one per counter
item). A record that cannot be read is reported alone; when the fold fails, every record is reported and comes back,
and the view updates it made already are conditional, so they are not applied twice.

BEACON_ALERTS (real time): each record on its own (`each_record`), then the summed outcome counters once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from chalicelib import resources
from chalicelib.observability import logger
from chalicelib.services.beacon_ingest import Alerts, fold_batches
from chalicelib.workers.sqs_batch import each_record


def handle_beacon_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """Fold an SQS batch of beacon batches; the answer lists the records that failed."""
    readable, failures = [], []
    for record in event.get("Records", []):
        try:
            readable.append((record["messageId"], json.loads(record["body"])))
        except (KeyError, ValueError):
            logger.exception(
                f"{resources.BEACONS.logical} message unreadable", extra={"message_id": record.get("messageId")}
            )
            failures.append({"itemIdentifier": record.get("messageId", "")})
    try:
        folded = fold_batches(message for _, message in readable)
    except Exception:
        logger.exception(f"{resources.BEACONS.logical} fold failed")
        failures += [{"itemIdentifier": message_id} for message_id, _ in readable]
    else:
        logger.info(
            "beacon batches folded",
            extra={"views": folded.views, "batches": folded.batches, "replayed": folded.replayed},
        )
    return {"batchItemFailures": failures}


def handle_alert_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """Alert sharers, store leads, send due digests; the answer lists the records that failed."""
    alerts = Alerts()
    answer = each_record(event, resources.BEACON_ALERTS.logical, alerts.handle)
    alerts.flush()
    return answer
