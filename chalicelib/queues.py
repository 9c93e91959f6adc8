"""SQS publishing: the only module that knows SQS.

Bodies are JSON objects that carry their own `type` and `v`; tenant and correlation ids also travel as message
attributes, so a consumer (or an operator reading a DLQ) can route and trace without parsing the body.

A message sent for a tenant carries the tenant as its `MessageGroupId`: on a standard queue that makes SQS a fair
queue, which serves the other tenants' messages first while one tenant has a burst in flight (no ordering and no
exactly-once: the queues stay standard queues). Messages for no tenant (the nightly fan-out) carry no group. The boto3
client is created on first use and cached per process, and queue URLs are resolved once per queue.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import boto3

from chalicelib import resources
from chalicelib.config import Settings, get_settings

BATCH_LIMIT = 10
BATCH_BYTES_LIMIT = 256 * 1024
BATCH_ATTEMPTS = 3
RETRY_PAUSE_SECONDS = 0.05

TENANT_ATTRIBUTE = "tenant_id"
CORRELATION_ATTRIBUTE = "correlation_id"

_lock = threading.Lock()
_clients: dict[tuple[str, str | None], Any] = {}
_urls: dict[tuple[str, str | None, str], str] = {}


class PublishError(Exception):
    """Some messages could not be sent; `failed` holds their batch ids and SQS error codes."""

    def __init__(self, failed: Mapping[str, str]) -> None:
        super().__init__(f"{len(failed)} message(s) not sent: {sorted(set(failed.values()))}")
        self.failed = dict(failed)


def _endpoint() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL_SQS") or os.environ.get("AWS_ENDPOINT_URL")


def sqs_client(settings: Settings | None = None) -> Any:
    """The process's SQS client for the stage's region and endpoint, created on first use."""
    settings = settings or get_settings()
    key = (settings.region, _endpoint())
    with _lock:
        client = _clients.get(key)
    if client is None:
        client = boto3.client("sqs", region_name=settings.region)
        with _lock:
            client = _clients.setdefault(key, client)
    return client


def queue_url(queue: resources.Queue, settings: Settings | None = None) -> str:
    """The URL of a declared queue in this stage, resolved with GetQueueUrl once per process."""
    settings = settings or get_settings()
    name = settings.queue(queue)
    key = (settings.region, _endpoint(), name)
    with _lock:
        url = _urls.get(key)
    if url is None:
        url = sqs_client(settings).get_queue_url(QueueName=name)["QueueUrl"]
        with _lock:
            _urls[key] = url
    return url


def encode(message: Mapping[str, Any]) -> str:
    """The SQS body of a message: compact JSON, UTF-8 kept as is."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


def attributes(tenant_id: str | None, correlation_id: str | None) -> dict[str, dict[str, str]]:
    """Message attributes for the ids that are present (SQS refuses empty values)."""
    values = {TENANT_ATTRIBUTE: tenant_id, CORRELATION_ATTRIBUTE: correlation_id}
    return {name: {"DataType": "String", "StringValue": value} for name, value in values.items() if value}


def fairness(tenant_id: str | None) -> dict[str, str]:
    """The message group of a tenant's message (SQS fair queues); none for a message of no tenant."""
    return {"MessageGroupId": tenant_id} if tenant_id else {}


def publish(
    queue: resources.Queue,
    message: Mapping[str, Any],
    *,
    tenant_id: str | None = None,
    correlation_id: str | None = None,
    delay_seconds: int = 0,
    settings: Settings | None = None,
) -> str:
    """Send one message; returns its SQS message id."""
    settings = settings or get_settings()
    response = sqs_client(settings).send_message(
        QueueUrl=queue_url(queue, settings),
        MessageBody=encode(message),
        DelaySeconds=delay_seconds,
        MessageAttributes=attributes(tenant_id, correlation_id),
        **fairness(tenant_id),
    )
    return response["MessageId"]


def publish_batch(
    queue: resources.Queue,
    messages: Sequence[Mapping[str, Any]],
    *,
    tenant_id: str | None = None,
    correlation_id: str | None = None,
    delay_seconds: int = 0,
    settings: Settings | None = None,
) -> list[str]:
    """Send messages with SendMessageBatch (10 per call, within the request size limit), retrying only the entries
    SQS failed on its side; returns the message ids in input order, or raises PublishError naming what was not sent.
    """
    settings = settings or get_settings()
    client = sqs_client(settings)
    url = queue_url(queue, settings)
    message_attributes = attributes(tenant_id, correlation_id)
    entries = [
        {
            "Id": str(index),
            "MessageBody": encode(message),
            "DelaySeconds": delay_seconds,
            "MessageAttributes": message_attributes,
            **fairness(tenant_id),
        }
        for index, message in enumerate(messages)
    ]
    sent: dict[str, str] = {}
    refused: dict[str, str] = {}
    last_error: dict[str, str] = {}
    pending = entries
    for attempt in range(BATCH_ATTEMPTS):
        if attempt:
            time.sleep(RETRY_PAUSE_SECONDS * 2 ** (attempt - 1))
        retry: list[dict[str, Any]] = []
        for chunk in _chunks(pending):
            response = client.send_message_batch(QueueUrl=url, Entries=chunk)
            sent.update({ok["Id"]: ok["MessageId"] for ok in response.get("Successful", [])})
            by_id = {entry["Id"]: entry for entry in chunk}
            for error in response.get("Failed", []):
                code = error.get("Code", "Unknown")
                if error.get("SenderFault"):
                    refused[error["Id"]] = code
                else:
                    last_error[error["Id"]] = code
                    retry.append(by_id[error["Id"]])
        pending = retry
        if not pending:
            break
    refused.update({entry["Id"]: last_error[entry["Id"]] for entry in pending})
    if refused:
        raise PublishError(refused)
    return [sent[entry["Id"]] for entry in entries]


def _chunks(entries: Sequence[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Runs of at most BATCH_LIMIT entries whose bodies fit in one SendMessageBatch request."""
    chunk: list[dict[str, Any]] = []
    size = 0
    for entry in entries:
        entry_size = len(entry["MessageBody"].encode())
        if chunk and (len(chunk) == BATCH_LIMIT or size + entry_size > BATCH_BYTES_LIMIT):
            yield chunk
            chunk, size = [], 0
        chunk.append(entry)
        size += entry_size
    if chunk:
        yield chunk
