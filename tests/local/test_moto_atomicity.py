"""The local stack's moto server applies DynamoDB conditional writes atomically, as DynamoDB does."""

from __future__ import annotations

import threading

import pytest
from botocore.exceptions import ClientError

from local import aws

pytestmark = pytest.mark.e2e

RACERS = 12
ROUNDS = 15


def test_exactly_one_of_many_concurrent_conditional_updates_wins():
    server, endpoint = aws.start_moto_server()
    try:
        dynamodb = aws.client("dynamodb", endpoint, "cn-north-1", max_pool_connections=RACERS)
        dynamodb.create_table(
            TableName="race",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        )
        for round_ in range(ROUNDS):
            dynamodb.put_item(TableName="race", Item={"pk": {"S": f"batch-{round_}"}, "version": {"N": "0"}})
        start = threading.Barrier(RACERS)
        wins: list[int] = []
        refusals: list[str] = []

        def claim(worker: int) -> None:
            start.wait()
            for round_ in range(ROUNDS):
                try:
                    dynamodb.update_item(
                        TableName="race",
                        Key={"pk": {"S": f"batch-{round_}"}},
                        UpdateExpression="SET version = version + :one, claimed_by = :me",
                        ConditionExpression="version = :read",
                        ExpressionAttributeValues={":one": {"N": "1"}, ":me": {"N": str(worker)}, ":read": {"N": "0"}},
                    )
                    wins.append(round_)
                except ClientError as error:
                    refusals.append(error.response["Error"]["Code"])

        threads = [threading.Thread(target=claim, args=(worker,)) for worker in range(RACERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(wins) == list(range(ROUNDS))
        assert set(refusals) == {"ConditionalCheckFailedException"}
        assert len(refusals) == ROUNDS * (RACERS - 1)
    finally:
        server.stop()
