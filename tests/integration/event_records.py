"""SQS-shaped records for the event workers (moto in-process)."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3

from chalicelib import resources
from chalicelib.wecom.events import WeComEvent


def sqs_record(event: WeComEvent, tenant_id: str, message_id: str, receive_count: int = 1) -> dict[str, Any]:
    """One SQS record carrying `event` as the callback endpoint queues it."""
    body = {**event.to_message(), "tenant_id": tenant_id, "received_at": int(time.time())}
    return raw_record(json.dumps(body), message_id, receive_count)


def forwarded_records() -> list[dict[str, Any]]:
    """Every message the new-friend path handed on to the events queue, as SQS records (the queue is drained)."""
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=resources.EVENTS.name)["QueueUrl"]
    records = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages", [])
        if not messages:
            return records
        for message in messages:
            records.append(raw_record(message["Body"], message["MessageId"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def raw_record(body: str, message_id: str, receive_count: int = 1) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": f"rh-{message_id}",
        "body": body,
        "attributes": {"ApproximateReceiveCount": str(receive_count)},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
    }
