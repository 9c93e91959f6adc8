"""The dispatch handler watches the invocation's time left: a record it cannot finish in time is handed to another
invocation at once, untouched, instead of being cut off by Lambda holding a claim."""

from __future__ import annotations

import json
import time

import boto3

from chalicelib import resources
from chalicelib.config import Settings
from chalicelib.domain.dispatch_state import BatchStatus
from chalicelib.services.dispatch import batch_message
from chalicelib.store.broadcasts import BroadcastStore
from chalicelib.workers.dispatch import handle_dispatch_event, record_reserve_seconds

TENANT = "deadline-corp"


def event(*bodies: dict) -> dict:
    return {"Records": [{"messageId": f"m{i}", "body": json.dumps(b)} for i, b in enumerate(bodies)]}


def queued(settings: Settings) -> list[dict]:
    """The dispatch queue's messages, delayed ones included (the shortest delay is one second)."""
    time.sleep(1.2)
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=settings.queue(resources.DISPATCH))["QueueUrl"]
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in got]


def test_a_record_without_time_to_finish_is_handed_on_untouched(aws: Settings) -> None:
    store = BroadcastStore(TENANT, aws)
    bid = store.create(chat_type="single", content={"text": "hi"}, audience={"tags": ["t"]}).broadcast_id
    store.put_parts(bid, [("b1", 0, ["c1"])])
    store.put_batches(bid, [("b1", "u1", 0, 1, 1)])
    body = batch_message(TENANT, bid, "b1")
    left = record_reserve_seconds(aws) - 0.5

    answer = handle_dispatch_event(event(body), aws, remaining_seconds=lambda: left)

    assert answer == {"batchItemFailures": []}
    assert queued(aws) == [body]
    batch = store.get_batch(bid, "b1")
    assert (batch.state.status, batch.state.attempts) == (BatchStatus.PENDING, 0)


def test_records_are_handled_while_time_remains(aws: Settings) -> None:
    missing = batch_message(TENANT, "bc-none", "b1")
    answer = handle_dispatch_event(event(missing, missing), aws, remaining_seconds=lambda: 600.0)
    assert answer == {"batchItemFailures": []}
    assert queued(aws) == []
