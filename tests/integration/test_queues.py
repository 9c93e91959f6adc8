"""Publishing to the declared queues on moto: bodies, attributes, batching, and retrying only failed entries."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from chalicelib import queues, resources
from chalicelib.config import Settings


def receive_all(settings: Settings, queue: resources.Queue) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=settings.queue(queue))["QueueUrl"]
    out: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get(
            "Messages", []
        )
        if not batch:
            return out
        out += batch
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
        )


def test_publish_sends_json_with_tenant_and_correlation_attributes(aws: Settings) -> None:
    message_id = queues.publish(
        resources.SYNC, {"type": "sync", "v": 1, "note": "客户"}, tenant_id="t-acme", correlation_id="req-1"
    )
    [received] = receive_all(aws, resources.SYNC)
    assert received["MessageId"] == message_id
    assert json.loads(received["Body"]) == {"type": "sync", "v": 1, "note": "客户"}
    attributes = received["MessageAttributes"]
    assert attributes["tenant_id"]["StringValue"] == "t-acme"
    assert attributes["correlation_id"]["StringValue"] == "req-1"


def test_publish_without_ids_sends_no_empty_attributes(aws: Settings) -> None:
    queues.publish(resources.PLAN, {"type": "plan", "v": 1})
    [received] = receive_all(aws, resources.PLAN)
    assert "MessageAttributes" not in received


def test_a_tenants_messages_carry_the_tenant_as_message_group_and_others_none(aws: Settings) -> None:
    """The message group makes a standard queue a fair queue (one tenant's burst does not hold the others back)."""
    queues.publish(resources.EVENTS, {"type": "e", "v": 1}, tenant_id="t-acme")
    queues.publish_batch(resources.EVENTS, [{"type": "e", "v": 1}] * 3, tenant_id="t-bolt")
    queues.publish(resources.EVENTS, {"type": "fanout", "v": 1})
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=aws.queue(resources.EVENTS))["QueueUrl"]
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"])
    groups = sorted(m["Attributes"].get("MessageGroupId", "") for m in received["Messages"])
    assert groups == ["", "t-acme", "t-bolt", "t-bolt", "t-bolt"]


def test_queue_urls_are_resolved_once_per_process(aws: Settings) -> None:
    client = queues.sqs_client(aws)
    with Stubber(client) as stub:
        stub.add_response("get_queue_url", {"QueueUrl": "https://sqs.invalid/only-once"}, {"QueueName": "renamed-q"})
        renamed = Settings(**{**aws.__dict__, "queues": {**aws.queues, "dispatch": "renamed-q"}})
        first = queues.queue_url(resources.DISPATCH, renamed)
        second = queues.queue_url(resources.DISPATCH, renamed)
        stub.assert_no_pending_responses()
    assert first == second == "https://sqs.invalid/only-once"
    assert queues.sqs_client(aws) is client


def test_publish_batch_sends_more_than_ten_in_order(aws: Settings) -> None:
    messages = [{"type": "dispatch", "v": 1, "n": n} for n in range(23)]
    ids = queues.publish_batch(resources.DISPATCH, messages, tenant_id="t-acme")
    assert len(ids) == len(set(ids)) == 23
    received = receive_all(aws, resources.DISPATCH)
    assert sorted(json.loads(m["Body"])["n"] for m in received) == list(range(23))
    by_id = {m["MessageId"]: json.loads(m["Body"])["n"] for m in received}
    assert [by_id[i] for i in ids] == list(range(23))


def test_chunks_respect_count_and_request_size() -> None:
    small = [{"Id": str(i), "MessageBody": "x"} for i in range(25)]
    assert [len(c) for c in queues._chunks(small)] == [10, 10, 5]
    big = [{"Id": str(i), "MessageBody": "y" * 100_000} for i in range(5)]
    assert [len(c) for c in queues._chunks(big)] == [2, 2, 1]


def batch_result(successful: list[str], failed: list[tuple[str, bool]]) -> dict[str, Any]:
    return {
        "Successful": [{"Id": i, "MessageId": f"m-{i}", "MD5OfMessageBody": "0" * 32} for i in successful],
        "Failed": [
            {"Id": i, "SenderFault": fault, "Code": "Boom" if fault else "InternalError"} for i, fault in failed
        ],
    }


def test_publish_batch_retries_only_the_entries_sqs_failed(aws: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queues, "RETRY_PAUSE_SECONDS", 0)
    client = queues.sqs_client(aws)
    url = queues.queue_url(resources.EVENTS, aws)
    with Stubber(client) as stub:
        stub.add_response(
            "send_message_batch",
            batch_result(["0", "2"], [("1", False), ("3", False)]),
            {"QueueUrl": url, "Entries": ANY},
        )
        stub.add_response("send_message_batch", batch_result(["3"], [("1", False)]), {"QueueUrl": url, "Entries": ANY})
        stub.add_response("send_message_batch", batch_result(["1"], []), {"QueueUrl": url, "Entries": ANY})
        calls: list[list[str]] = []
        event = "provide-client-params.sqs.SendMessageBatch"
        client.meta.events.register(event, lambda params, **_: calls.append([e["Id"] for e in params["Entries"]]), "t")
        try:
            ids = queues.publish_batch(resources.EVENTS, [{"n": n} for n in range(4)])
        finally:
            client.meta.events.unregister(event, unique_id="t")
        stub.assert_no_pending_responses()
    assert calls == [["0", "1", "2", "3"], ["1", "3"], ["1"]]
    assert ids == ["m-0", "m-1", "m-2", "m-3"]


def test_publish_batch_gives_up_on_sender_faults_and_after_the_last_attempt(
    aws: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queues, "RETRY_PAUSE_SECONDS", 0)
    client = queues.sqs_client(aws)
    url = queues.queue_url(resources.EVENTS, aws)
    with Stubber(client) as stub:
        stub.add_response(
            "send_message_batch", batch_result(["0"], [("1", True), ("2", False)]), {"QueueUrl": url, "Entries": ANY}
        )
        for _ in range(queues.BATCH_ATTEMPTS - 1):
            stub.add_response("send_message_batch", batch_result([], [("2", False)]), {"QueueUrl": url, "Entries": ANY})
        with pytest.raises(queues.PublishError) as caught:
            queues.publish_batch(resources.EVENTS, [{"n": n} for n in range(3)])
        stub.assert_no_pending_responses()
    assert caught.value.failed == {"1": "Boom", "2": "InternalError"}
