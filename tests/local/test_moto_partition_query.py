"""The local moto server's partition-only Query answers exactly as a full-table Query would."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.dynamodb.models.table import Table

from local import aws

pytestmark = pytest.mark.e2e


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    """A client of a fresh local moto server (the one the local stack runs), stopped afterwards."""
    server, endpoint = aws.start_moto_server()
    try:
        yield aws.client("dynamodb", endpoint, "cn-north-1")
    finally:
        server.stop()


def create_table(dynamodb: Any, name: str, more: tuple[str, ...] = (), **extra: Any) -> None:
    """A table keyed by string pk and sk (`more`: other string key attributes, for its indexes)."""
    dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", *more)],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        **extra,
    )


def _query_all(dynamodb, **kwargs) -> list[str]:
    keys: list[str] = []
    while True:
        page = dynamodb.query(TableName="parts", **kwargs)
        keys += [item["sk"]["S"] for item in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return keys
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_queries_see_only_their_partition_with_conditions_paging_and_order(dynamodb):
    create_table(dynamodb, "parts")
    for i in range(300):
        dynamodb.put_item(
            TableName="parts",
            Item={"pk": {"S": f"p{i % 3}"}, "sk": {"S": f"s{i:04d}"}, "n": {"N": str(i)}},
        )
    expected = [f"s{i:04d}" for i in range(300) if i % 3 == 1]
    assert (
        _query_all(dynamodb, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "p1"}}, Limit=7)
        == expected
    )
    assert _query_all(
        dynamodb,
        KeyConditionExpression="pk = :p AND sk BETWEEN :a AND :b",
        ExpressionAttributeValues={":p": {"S": "p1"}, ":a": {"S": "s0100"}, ":b": {"S": "s0200"}},
        ScanIndexForward=False,
        Limit=5,
    ) == [k for k in reversed(expected) if "s0100" <= k <= "s0200"]
    assert _query_all(
        dynamodb,
        KeyConditionExpression="pk = :p",
        FilterExpression="n > :n",
        ExpressionAttributeValues={":p": {"S": "p2"}, ":n": {"N": "250"}},
    ) == [f"s{i:04d}" for i in range(251, 300) if i % 3 == 2]
    assert (
        _query_all(dynamodb, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "absent"}}) == []
    )
    conditions = {
        "begins_with(sk, :a)": lambda k: k.startswith("s01"),
        "sk < :a": lambda k: k < "s01",
        "sk <= :b": lambda k: k <= "s0100",
        "sk > :b": lambda k: k > "s0100",
        "sk >= :a": lambda k: k >= "s01",
        "sk = :b": lambda k: k == "s0100",
    }
    for condition, keep in conditions.items():
        for forward in (True, False):
            for limit in (1, 4, 1000):
                got = _query_all(
                    dynamodb,
                    KeyConditionExpression=f"pk = :p AND {condition}",
                    ExpressionAttributeValues={":p": {"S": "p1"}, ":a": {"S": "s01"}, ":b": {"S": "s0100"}},
                    ScanIndexForward=forward,
                    Limit=limit,
                )
                wanted = [k for k in expected if keep(k)]
                assert got == (wanted if forward else wanted[::-1]), (condition, forward, limit)
    assert dynamodb.scan(TableName="parts", Select="COUNT")["Count"] == 300


def test_the_view_is_removed_when_the_server_stops():
    """In-process moto (the integration tests) takes writes from several threads at once and must never see it."""
    own = Table.query
    server, _ = aws.start_moto_server()
    assert Table.query is not own
    server.stop()
    assert Table.query is own


def test_index_queries_see_only_items_with_their_hash_key(dynamodb):
    create_table(
        dynamodb,
        "indexed",
        more=("g", "gs"),
        GlobalSecondaryIndexes=[
            {
                "IndexName": "byg",
                "KeySchema": [
                    {"AttributeName": "g", "KeyType": "HASH"},
                    {"AttributeName": "gs", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    for i in range(200):
        item = {"pk": {"S": f"p{i % 7}"}, "sk": {"S": f"s{i:04d}"}}
        if i % 4:
            item |= {"g": {"S": f"g{i % 3}"}, "gs": {"S": f"{(i * 37) % 200:04d}"}}
        dynamodb.put_item(TableName="indexed", Item=item)
    members = sorted(f"{(i * 37) % 200:04d}" for i in range(200) if i % 4 and i % 3 == 1)
    for forward in (True, False):
        kwargs = {
            "TableName": "indexed",
            "IndexName": "byg",
            "KeyConditionExpression": "g = :g AND gs >= :a",
            "ExpressionAttributeValues": {":g": {"S": "g1"}, ":a": {"S": "0050"}},
            "ScanIndexForward": forward,
            "Limit": 6,
        }
        got: list[str] = []
        while True:
            page = dynamodb.query(**kwargs)
            got += [item["gs"]["S"] for item in page["Items"]]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        wanted = [k for k in members if k >= "0050"]
        assert got == (wanted if forward else wanted[::-1])


def test_a_cancelled_transaction_leaves_nothing_and_a_committed_one_everything(dynamodb):
    create_table(dynamodb, "tx")
    dynamodb.put_item(TableName="tx", Item={"pk": {"S": "a"}, "sk": {"S": "1"}, "n": {"N": "1"}})

    def write(expected: str) -> None:
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "tx", "Item": {"pk": {"S": "b"}, "sk": {"S": "1"}}}},
                {
                    "Update": {
                        "TableName": "tx",
                        "Key": {"pk": {"S": "a"}, "sk": {"S": "1"}},
                        "UpdateExpression": "SET n = :two",
                        "ConditionExpression": "n = :expected",
                        "ExpressionAttributeValues": {":two": {"N": "2"}, ":expected": {"N": expected}},
                    }
                },
            ]
        )

    with pytest.raises(ClientError, match="TransactionCanceled"):
        write("5")
    assert dynamodb.scan(TableName="tx")["Items"] == [{"pk": {"S": "a"}, "sk": {"S": "1"}, "n": {"N": "1"}}]
    write("1")
    items = sorted((i["pk"]["S"], i.get("n", {}).get("N")) for i in dynamodb.scan(TableName="tx")["Items"])
    assert items == [("a", "2"), ("b", None)]


def test_index_queries_follow_every_kind_of_write(dynamodb):
    """The index map is kept between Queries only while the table is not written: each kind of write shows."""
    create_table(
        dynamodb,
        "moving",
        more=("g",),
        GlobalSecondaryIndexes=[
            {
                "IndexName": "byg",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )

    def members(group: str) -> list[str]:
        page = dynamodb.query(
            TableName="moving",
            IndexName="byg",
            KeyConditionExpression="g = :g",
            ExpressionAttributeValues={":g": {"S": group}},
        )
        return sorted(item["pk"]["S"] + item["sk"]["S"] for item in page["Items"])

    def key(pk: str) -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"S": "1"}}

    dynamodb.put_item(TableName="moving", Item=key("a") | {"g": {"S": "x"}})
    dynamodb.put_item(TableName="moving", Item=key("b") | {"g": {"S": "x"}})
    assert (members("x"), members("x"), members("y")) == (["a1", "b1"], ["a1", "b1"], [])
    dynamodb.update_item(
        TableName="moving", Key=key("a"), UpdateExpression="SET g = :y", ExpressionAttributeValues={":y": {"S": "y"}}
    )
    assert (members("x"), members("y")) == (["b1"], ["a1"])
    dynamodb.delete_item(TableName="moving", Key=key("b"))
    assert members("x") == []
    dynamodb.batch_write_item(
        RequestItems={"moving": [{"PutRequest": {"Item": key(p) | {"g": {"S": "x"}}}} for p in ("c", "d")]}
    )
    assert members("x") == ["c1", "d1"]
    dynamodb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": "moving", "Item": key("e") | {"g": {"S": "y"}}}},
            {
                "Update": {
                    "TableName": "moving",
                    "Key": key("c"),
                    "UpdateExpression": "REMOVE g",
                }
            },
        ]
    )
    assert (members("x"), members("y")) == (["d1"], ["a1", "e1"])
    with pytest.raises(ClientError, match="TransactionCanceled"):
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "moving", "Item": key("f") | {"g": {"S": "x"}}}},
                {
                    "Update": {
                        "TableName": "moving",
                        "Key": key("d"),
                        "UpdateExpression": "SET g = :y",
                        "ConditionExpression": "attribute_not_exists(pk)",
                        "ExpressionAttributeValues": {":y": {"S": "y"}},
                    }
                },
            ]
        )
    assert (members("x"), members("y")) == (["d1"], ["a1", "e1"])
