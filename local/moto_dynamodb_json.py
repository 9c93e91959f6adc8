"""moto's answers to DynamoDB's item operations written with `json.dumps`, not moto's shape-driven serializer.

moto builds each answer as the wire's JSON already (attribute values as `{"S": ...}` maps, numbers as strings), then
walks it against botocore's output shape value by value to write it out. On the local stack that walk was 78 % of the
moto server's CPU during a 50,000-customer sync (every BatchGetItem and Query answer, item by item, attribute by
attribute), and the server answers DynamoDB one request at a time. For the item operations the walk changes nothing
but the cost, so their answers are dumped as they are: only when every value is plain JSON (no binary attribute
value, nothing that is not a str, number, bool, list or dict, no None) — otherwise moto's serializer writes it, as
for every other operation and every error. Fields moto keeps that the answer's shape has not are dropped, as its
serializer drops them. `tests/local/test_moto_dynamodb_json.py` holds the two to the same answers.
Installed by the local stack's moto server only (`local.aws.AtomicMotoServer`).
"""

from __future__ import annotations

import json
from typing import Any

from moto.core.responses import ActionResult, get_service_model
from moto.dynamodb.responses import DynamoHandler

ITEM_OPERATIONS = frozenset(
    {
        "GetItem",
        "BatchGetItem",
        "Query",
        "Scan",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
        "TransactWriteItems",
        "TransactGetItems",
    }
)
CONTENT_TYPE = "application/x-amz-json-1.0"
_BINARY = frozenset({"B", "BS"})
_ORIGINAL = DynamoHandler.serialized
_MEMBERS: dict[str, frozenset[str]] = {}


def is_plain(value: Any) -> bool:
    """Whether `value` is written the same by `json.dumps` as by moto's serializer: JSON's own types only, no None,
    no binary attribute value (a key "B" or "BS" anywhere sends the answer the slow way, even an attribute named so)."""
    if isinstance(value, dict):
        return all(k not in _BINARY and v is not None and is_plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(v is not None and is_plain(v) for v in value)
    return isinstance(value, str | int | float)


def output_members(operation: str) -> frozenset[str]:
    """The top-level fields of the operation's answer (moto's result may hold more, which its serializer drops)."""
    members = _MEMBERS.get(operation)
    if members is None:
        shape = get_service_model("dynamodb").operation_model(operation).output_shape
        members = _MEMBERS[operation] = frozenset(shape.members if shape is not None else ())
    return members


def serialized(self: DynamoHandler, action_result: ActionResult) -> Any:
    result, operation = action_result.result, self._get_action()
    if operation in ITEM_OPERATIONS and isinstance(result, dict) and is_plain(result):
        members = output_members(operation)
        headers = {"Content-Type": CONTENT_TYPE}
        headers.update(self.response_headers)
        return 200, headers, json.dumps({k: v for k, v in result.items() if k in members})
    return _ORIGINAL(self, action_result)


def install() -> None:
    DynamoHandler.serialized = serialized  # type: ignore[method-assign]


def uninstall() -> None:
    DynamoHandler.serialized = _ORIGINAL  # type: ignore[method-assign]
