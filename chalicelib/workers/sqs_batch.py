"""One way to run an SQS batch record by record: each record's JSON body handled on its own, and a record that
raises is logged and reported alone (Lambda's ReportBatchItemFailures), so SQS retries it, then moves it to the DLQ,
without redoing the records that succeeded.

Hand-written rather than Powertools' `BatchProcessor`: the same contract in a dozen lines, without importing the
batch utilities (and their pydantic-free but sizeable module tree) into every worker's cold start.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.observability import logger


def each_record(event: Mapping[str, Any], queue: str, handle: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    """Handle each record's body; the answer lists the records that failed."""
    failures = []
    for record in event.get("Records", []):
        try:
            handle(json.loads(record["body"]))
        except Exception:
            logger.exception(f"{queue} message failed", extra={"message_id": record.get("messageId")})
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
