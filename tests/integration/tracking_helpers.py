"""Helpers for the tracking tests: beacon bodies, viewer tokens, and the beacon queues drained into their workers."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3

from chalicelib import resources
from chalicelib.domain import signed_tokens
from chalicelib.domain.signed_tokens import ViewerClaims
from chalicelib.services import share_links
from chalicelib.workers.beacons import handle_alert_event, handle_beacon_event
from tests.integration.event_records import raw_record

PAGE_ORIGIN = "http://127.0.0.1:8000"


def viewer_token(tenant_id: str, customer: str, consented: bool = True) -> str:
    """A viewer token as the landing page issues it after WeChat's OAuth."""
    claims = ViewerClaims(tenant_id, f"o-{customer}", f"u-{customer}", customer, consented, int(time.time()))
    return signed_tokens.sign(claims, share_links.share_keys_of(tenant_id))


def reading(start_ms: int, heartbeats: int, *, first_seq: int = 0, opened: bool = True) -> list[dict[str, Any]]:
    """An open (optional) then heartbeats 5 s apart, each 5 s visible."""
    events = [{"seq": first_seq, "type": "open", "at": start_ms}] if opened else []
    for n in range(1, heartbeats + 1):
        events.append({"seq": first_seq + n, "type": "heartbeat", "at": start_ms + 5000 * n, "visible_ms": 5000})
    return events


def post_beacons(api: Any, body: Any, *, origin: str | None = PAGE_ORIGIN, ip: str | None = None) -> Any:
    headers = {"Content-Type": "text/plain"}
    if origin:
        headers["Origin"] = origin
    raw = body if isinstance(body, str) else json.dumps(body)
    return api.post("/t/beacons", headers=headers, body=raw)


def queued(queue: resources.Queue = resources.BEACONS) -> list[dict[str, Any]]:
    """Every message on a queue as SQS records (the queue is drained)."""
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=queue.name)["QueueUrl"]
    records = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return records
        for message in messages:
            records.append(raw_record(message["Body"], message["MessageId"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def delayed_messages() -> int:
    """How many messages wait on BEACON_ALERTS with a delay (a digest waits for its budget window)."""
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=resources.BEACON_ALERTS.name)["QueueUrl"]
    answer = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
    return int(answer["Attributes"]["ApproximateNumberOfMessagesDelayed"])


def ingest(records: list[dict[str, Any]]) -> None:
    """Run the bulk worker on these records; none may fail."""
    assert handle_beacon_event({"Records": records}) == {"batchItemFailures": []}


def alert(records: list[dict[str, Any]]) -> None:
    """Run the real-time worker on these records; none may fail."""
    assert handle_alert_event({"Records": records}) == {"batchItemFailures": []}


def process() -> None:
    """Drain both beacon queues through their workers: alerts first, as they run apart and sooner."""
    alert(queued(resources.BEACON_ALERTS))
    ingest(queued(resources.BEACONS))
