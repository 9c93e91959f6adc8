"""Creates every table and queue of `chalicelib.resources` on moto (server or in-process)."""

from __future__ import annotations

import json
from typing import Any

from chalicelib import resources
from chalicelib.config import Settings


def table_request(table: resources.Table, name: str) -> dict[str, Any]:
    """The CreateTable request for a declared table."""
    keys = {table.hash_key, *(k for k in [table.range_key] if k)}
    for index in table.indexes:
        keys.update(k for k in (index.hash_key, index.range_key) if k)

    def schema(hash_key: str, range_key: str | None) -> list[dict[str, str]]:
        out = [{"AttributeName": hash_key, "KeyType": "HASH"}]
        if range_key:
            out.append({"AttributeName": range_key, "KeyType": "RANGE"})
        return out

    request: dict[str, Any] = {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": k, "AttributeType": "S"} for k in sorted(keys)],
        "KeySchema": schema(table.hash_key, table.range_key),
    }
    if table.indexes:
        request["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index.name,
                "KeySchema": schema(index.hash_key, index.range_key),
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in table.indexes
        ]
    return request


def create_resources(dynamodb: Any, sqs: Any, settings: Settings) -> dict[str, str]:
    """Create all tables and queues (idempotent); returns queue name → URL, DLQs included."""
    existing = set(dynamodb.list_tables()["TableNames"])
    for table in resources.TABLES:
        name = settings.table(table)
        if name in existing:
            continue
        dynamodb.create_table(**table_request(table, name))
        if table.ttl_attribute:
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
            )
    urls: dict[str, str] = {}
    for queue in resources.QUEUES:
        name = settings.queue(queue)
        dlq_name = f"{name}-dlq"
        dlq_url = sqs.create_queue(QueueName=dlq_name, Attributes={"MessageRetentionPeriod": str(14 * 24 * 3600)})[
            "QueueUrl"
        ]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        urls[dlq_name] = dlq_url
        urls[name] = sqs.create_queue(
            QueueName=name,
            Attributes={
                "VisibilityTimeout": str(queue.visibility_timeout),
                "MessageRetentionPeriod": str(queue.retention_seconds),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(queue.max_receive_count)}
                ),
            },
        )["QueueUrl"]
    return urls
