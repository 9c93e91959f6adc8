"""The sync queue drained in-process, each message handled as one Lambda invocation (for sync and admin tests)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import boto3

from chalicelib import resources
from chalicelib.workers.sync import handle_sync_event


class Budget:
    """A Lambda context's remaining time: `ms` milliseconds from its creation (a real-time countdown)."""

    def __init__(self, ms: float) -> None:
        self.deadline = time.monotonic() + ms / 1000

    def __call__(self) -> int:
        return int((self.deadline - time.monotonic()) * 1000)


def drain_sync_queue(
    budget_ms: Callable[[], float],
    clock: Callable[[], float] = time.time,
    max_invocations: int = 500,
    redeliver_failures: bool = False,
) -> int:
    """Receive and handle sync messages until the queue is empty; each invocation gets `budget_ms()` of time and
    reads the time from `clock`. A failed invocation fails the test, or with `redeliver_failures` its message is
    made visible again at once (SQS's redelivery after the visibility timeout, without the wait). Returns the number
    of invocations."""
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=resources.SYNC.name)["QueueUrl"]
    for invocation in range(max_invocations):
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1).get("Messages", [])
        if not got:
            return invocation
        record = {"messageId": got[0]["MessageId"], "body": got[0]["Body"]}
        result = handle_sync_event({"Records": [record]}, Budget(budget_ms()), clock)
        if redeliver_failures and result["batchItemFailures"]:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"], VisibilityTimeout=0)
            continue
        assert result == {"batchItemFailures": []}, json.loads(got[0]["Body"])
        sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
    raise AssertionError("the sync queue did not drain")
