"""The event-source pump against moto's server: real SQS events, partial batch failure, redrive, concurrency,
schedules. Each test builds a small Chalice app on its own queues with short visibility timeouts."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from chalice import Chalice, Rate

from chalicelib.config import get_settings
from chalicelib.observability import logger
from local import aws
from local.pump import EventSourcePump

pytestmark = pytest.mark.e2e

REGION = "cn-north-1"


@pytest.fixture(scope="module")
def sqs() -> Iterator[Any]:
    server, endpoint = aws.start_moto_server(0)
    client = aws.client("sqs", endpoint, REGION, max_pool_connections=20)
    yield client
    client.close()
    server.stop()


def make_queue(sqs: Any, *, visibility: int = 1, max_receive_count: int = 3) -> tuple[str, str, str]:
    """A fresh queue with a DLQ; returns (name, url, dlq url)."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": str(visibility),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}),
        },
    )["QueueUrl"]
    return name, url, dlq_url


def start_pump(app: Chalice, sqs: Any, **options: Any) -> EventSourcePump:
    pump = EventSourcePump(app, get_settings({"AWS_REGION": REGION}), sqs, **options)
    pump.start()
    return pump


def wait_until(predicate: Callable[[], bool], timeout: float = 8.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def queue_depth(sqs: Any, url: str) -> tuple[int, int]:
    """(visible, in flight) messages."""
    attrs = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])


def send_all(sqs: Any, url: str, bodies: list[str]) -> None:
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies)])


def test_a_message_reaches_the_handler_as_a_lambda_sqs_event(sqs):
    name, url, _ = make_queue(sqs)
    app = Chalice(app_name="pumptest")
    seen: list[tuple[dict[str, Any], Any, str]] = []

    @app.on_sqs_message(queue=name, batch_size=5)
    def on_message(event):
        seen.append((event.to_dict(), event.context, logger.thread_safe_get_current_keys().get("correlation_id")))

    sqs.send_message(
        QueueUrl=url,
        MessageBody='{"hello": "世界"}',
        MessageAttributes={
            "kind": {"DataType": "String", "StringValue": "greeting"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )
    sqs.send_message(QueueUrl=url, MessageBody="second")
    pump = start_pump(app, sqs)
    try:
        wait_until(lambda: sum(len(e["Records"]) for e, _, _ in seen) == 2)
        wait_until(lambda: queue_depth(sqs, url) == (0, 0))
    finally:
        pump.stop()

    records = [r for event, _, _ in seen for r in event["Records"]]
    first = next(r for r in records if r["body"] == '{"hello": "世界"}')
    assert len({r["messageId"] for r in records}) == 2
    assert len({r["receiptHandle"] for r in records}) == 2
    assert first["eventSource"] == "aws:sqs"
    assert first["eventSourceARN"] == f"arn:aws-cn:sqs:{REGION}:{aws.FAKE_ACCOUNT_ID}:{name}"
    assert first["awsRegion"] == REGION
    assert set(first["attributes"]) == {
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    }
    assert first["attributes"]["ApproximateReceiveCount"] == "1"
    assert len(first["md5OfBody"]) == 32
    assert first["messageAttributes"]["kind"] == {
        "stringValue": "greeting",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    assert first["messageAttributes"]["blob"]["binaryValue"] == "AAE="
    contexts = [context for _, context, _ in seen]
    assert all(c.get_remaining_time_in_millis() <= 30_000 for c in contexts)
    assert contexts[0].function_name == "pumptest-local-on_message"
    assert contexts[0].memory_limit_in_mb == 256
    correlation_ids = [cid for _, _, cid in seen]
    assert correlation_ids == [c.aws_request_id for c in contexts]
    assert len(set(correlation_ids)) == len(seen)
    assert pump.stats["on_message"].deleted == 2


def test_reported_failures_come_back_after_the_visibility_timeout_and_the_rest_are_deleted(sqs):
    # Visibility above the batching window, as AWS requires of a real mapping; else a gathered record reappears.
    name, url, _ = make_queue(sqs, visibility=2)
    app = Chalice(app_name="pumptest")
    batches: list[list[tuple[str, str]]] = []

    @app.on_sqs_message(queue=name, batch_size=10, maximum_batching_window_in_seconds=1)
    def on_message(event):
        records = list(event)
        batches.append([(r.body, r.to_dict()["attributes"]["ApproximateReceiveCount"]) for r in records])
        failed = [r.to_dict()["messageId"] for r in records if r.body == "b" and len(batches) == 1]
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}

    send_all(sqs, url, ["a", "b", "c"])
    pump = start_pump(app, sqs)
    try:
        wait_until(lambda: len(batches) >= 2)
        wait_until(lambda: queue_depth(sqs, url) == (0, 0))
    finally:
        pump.stop()

    assert sorted(batches[0]) == [("a", "1"), ("b", "1"), ("c", "1")]
    assert batches[1:] == [[("b", "2")]]
    stats = pump.stats["on_message"]
    assert (stats.deleted, stats.reported_failures, stats.failed_invocations) == (3, 1, 0)


def test_an_exception_fails_the_whole_batch(sqs):
    name, url, _ = make_queue(sqs, visibility=1)
    app = Chalice(app_name="pumptest")
    batches: list[list[tuple[str, str]]] = []

    @app.on_sqs_message(queue=name, batch_size=10)
    def on_message(event):
        batches.append(sorted((r.body, r.to_dict()["attributes"]["ApproximateReceiveCount"]) for r in event))
        if len(batches) == 1:
            raise RuntimeError("downstream unavailable")

    send_all(sqs, url, ["a", "b"])
    pump = start_pump(app, sqs)
    try:
        wait_until(lambda: len(batches) >= 2)
        wait_until(lambda: queue_depth(sqs, url) == (0, 0))
    finally:
        pump.stop()

    assert batches == [[("a", "1"), ("b", "1")], [("a", "2"), ("b", "2")]]
    assert pump.stats["on_message"].failed_invocations == 1


def test_an_unusable_failure_report_fails_the_whole_batch(sqs):
    name, url, _ = make_queue(sqs, visibility=1)
    app = Chalice(app_name="pumptest")
    receive_counts: list[str] = []

    @app.on_sqs_message(queue=name, batch_size=1)
    def on_message(event):
        receive_counts.extend(r.to_dict()["attributes"]["ApproximateReceiveCount"] for r in event)
        if len(receive_counts) == 1:
            return {"batchItemFailures": [{"itemIdentifier": "not-in-this-batch"}]}
        return None

    sqs.send_message(QueueUrl=url, MessageBody="x")
    pump = start_pump(app, sqs)
    try:
        wait_until(lambda: queue_depth(sqs, url) == (0, 0) and len(receive_counts) == 2)
    finally:
        pump.stop()
    assert receive_counts == ["1", "2"]


def test_a_poison_message_ends_in_the_dlq_after_max_receive_count(sqs):
    name, url, dlq_url = make_queue(sqs, visibility=1, max_receive_count=2)
    app = Chalice(app_name="pumptest")
    attempts: list[str] = []

    @app.on_sqs_message(queue=name, batch_size=1)
    def on_message(event):
        for record in event:
            attempts.append(record.body)
            if record.body == "poison":
                raise ValueError("cannot parse")

    sqs.send_message(QueueUrl=url, MessageBody="poison")
    pump = start_pump(app, sqs)
    try:
        dead: list[dict[str, Any]] = []
        wait_until(lambda: dead.extend(sqs.receive_message(QueueUrl=dlq_url).get("Messages", [])) or bool(dead))
        sqs.send_message(QueueUrl=url, MessageBody="healthy")
        wait_until(lambda: "healthy" in attempts)
    finally:
        pump.stop()

    assert [m["Body"] for m in dead] == ["poison"]
    assert attempts == ["poison", "poison", "healthy"]
    assert queue_depth(sqs, url) == (0, 0)


def test_concurrency_is_bounded_by_maximum_concurrency(sqs):
    name, url, _ = make_queue(sqs, visibility=30)
    app = Chalice(app_name="pumptest")
    lock = threading.Lock()
    running = {"now": 0, "peak": 0, "done": 0}

    @app.on_sqs_message(queue=name, batch_size=1, maximum_concurrency=2)
    def on_message(event):
        with lock:
            running["now"] += 1
            running["peak"] = max(running["peak"], running["now"])
        time.sleep(0.15)
        with lock:
            running["now"] -= 1
            running["done"] += 1

    send_all(sqs, url, [str(i) for i in range(8)])
    started = time.monotonic()
    pump = start_pump(app, sqs)
    try:
        wait_until(lambda: running["done"] == 8)
        elapsed = time.monotonic() - started
    finally:
        pump.stop()

    assert running["peak"] == 2
    assert pump.stats["on_message"].peak_concurrency == 2
    assert elapsed >= 4 * 0.15


def test_stop_waits_for_the_running_batch(sqs):
    name, url, _ = make_queue(sqs, visibility=30)
    app = Chalice(app_name="pumptest")
    phases: list[str] = []

    @app.on_sqs_message(queue=name, batch_size=1)
    def on_message(event):
        phases.append("started")
        time.sleep(0.4)
        phases.append("finished")

    sqs.send_message(QueueUrl=url, MessageBody="slow")
    pump = start_pump(app, sqs)
    wait_until(lambda: "started" in phases)
    pump.stop()
    assert phases == ["started", "finished"]
    assert queue_depth(sqs, url) == (0, 0)
    assert not [t for t in threading.enumerate() if t.name.startswith("pump-")]


def test_a_schedule_handler_runs_at_its_rate_with_a_scheduled_event(sqs):
    app = Chalice(app_name="pumptest")
    events: list[dict[str, Any]] = []

    @app.schedule(Rate(1, unit=Rate.MINUTES))
    def every_minute(event):
        events.append(event.to_dict())

    pump = start_pump(app, sqs, speed=600)  # one minute → 0.1 s
    try:
        wait_until(lambda: len(events) >= 3)
    finally:
        pump.stop()

    event = events[0]
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["region"] == REGION
    assert event["resources"] == [
        f"arn:aws-cn:events:{REGION}:{aws.FAKE_ACCOUNT_ID}:rule/pumptest-local-every_minute-event"
    ]
    assert len({e["id"] for e in events}) == len(events)
