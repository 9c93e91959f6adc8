"""The local moto server's plain-JSON answers to item operations are the answers moto's own serializer gives."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from moto.dynamodb.responses import DynamoHandler

from local import aws, moto_dynamodb_json

pytestmark = pytest.mark.e2e


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, list[tuple[str, Any, Any]]]]:
    """A client of the local moto server whose every DynamoDB answer is written both ways; the pairs written by the
    plain-JSON path as (operation, plain, moto's)."""
    server, endpoint = aws.start_moto_server()
    pairs: list[tuple[str, Any, Any]] = []
    fast = DynamoHandler.serialized

    def both(self: DynamoHandler, action_result: Any) -> Any:
        answer = fast(self, action_result)
        if answer[2] and moto_dynamodb_json.is_plain(action_result.result):
            pairs.append((self._get_action(), answer, moto_dynamodb_json._ORIGINAL(self, action_result)))
        return answer

    monkeypatch.setattr(DynamoHandler, "serialized", both)
    try:
        yield aws.client("dynamodb", endpoint, "cn-north-1"), pairs
    finally:
        monkeypatch.undo()
        server.stop()


def test_item_operations_answer_the_same_both_ways(compared):
    dynamodb, pairs = compared
    dynamodb.create_table(
        TableName="t",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "g")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "byg",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    rich = {
        "s": {"S": '文字 "quoted" \\ \n'},
        "n": {"N": "-12.5"},
        "ss": {"SS": ["a", "b"]},
        "ns": {"NS": ["1", "2"]},
        "m": {"M": {"x": {"L": [{"S": "y"}, {"N": "3"}, {"BOOL": True}, {"NULL": True}]}}},
        "g": {"S": "grp"},
    }
    for i in range(30):
        dynamodb.put_item(TableName="t", Item={"pk": {"S": f"p{i % 3}"}, "sk": {"S": f"s{i:02d}"}} | rich)
    dynamodb.put_item(
        TableName="t",
        Item={"pk": {"S": "bin"}, "sk": {"S": "1"}, "b": {"B": b"\x00\x01"}},
        ReturnValues="NONE",
    )
    key = {"pk": {"S": "p1"}, "sk": {"S": "s01"}}
    dynamodb.get_item(TableName="t", Key=key)
    dynamodb.get_item(TableName="t", Key={"pk": {"S": "none"}, "sk": {"S": "x"}})
    dynamodb.get_item(TableName="t", Key={"pk": {"S": "bin"}, "sk": {"S": "1"}})
    dynamodb.batch_get_item(
        RequestItems={
            "t": {"Keys": [key, {"pk": {"S": "p2"}, "sk": {"S": "s02"}}, {"pk": {"S": "x"}, "sk": {"S": "y"}}]}
        }
    )
    dynamodb.query(
        TableName="t",
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "p0"}},
        Limit=4,
        ReturnConsumedCapacity="TOTAL",
    )
    dynamodb.query(
        TableName="t", IndexName="byg", KeyConditionExpression="g = :g", ExpressionAttributeValues={":g": {"S": "grp"}}
    )
    dynamodb.scan(TableName="t", Limit=5, FilterExpression="attribute_not_exists(b)")
    dynamodb.update_item(
        TableName="t",
        Key=key,
        UpdateExpression="ADD ss :v SET n = :n",
        ExpressionAttributeValues={":v": {"SS": ["c"]}, ":n": {"N": "7"}},
        ReturnValues="ALL_NEW",
    )
    dynamodb.update_item(
        TableName="t",
        Key=key,
        UpdateExpression="SET n = :n",
        ExpressionAttributeValues={":n": {"N": "8"}},
        ReturnValues="NONE",
    )
    dynamodb.delete_item(TableName="t", Key=key, ReturnValues="ALL_OLD")
    dynamodb.batch_write_item(
        RequestItems={"t": [{"PutRequest": {"Item": {"pk": {"S": "w"}, "sk": {"S": str(i)}}}} for i in range(5)]}
    )
    dynamodb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": "t", "Item": {"pk": {"S": "tx"}, "sk": {"S": "1"}}}},
            {
                "Update": {
                    "TableName": "t",
                    "Key": {"pk": {"S": "p0"}, "sk": {"S": "s00"}},
                    "UpdateExpression": "ADD ss :v",
                    "ExpressionAttributeValues": {":v": {"SS": ["z"]}},
                }
            },
        ]
    )
    operations = {operation for operation, _, _ in pairs}
    assert {"GetItem", "BatchGetItem", "Query", "Scan", "UpdateItem", "DeleteItem", "BatchWriteItem"} <= operations
    assert {"TransactWriteItems", "PutItem"} <= operations
    for operation, plain, own in pairs:
        assert plain[0] == own[0], operation
        assert json.loads(plain[2]) == json.loads(own[2]), operation
        assert plain[1]["Content-Type"] == own[1]["Content-Type"], operation
    binary = dynamodb.get_item(TableName="t", Key={"pk": {"S": "bin"}, "sk": {"S": "1"}})["Item"]["b"]["B"]
    assert binary == b"\x00\x01"  # an answer with a binary value is written by moto's serializer
