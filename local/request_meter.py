"""DynamoDB request units and SQS requests of every botocore client a bench process creates, from DynamoDB's sizing
rules applied to each request (moto returns no consumed capacity).

`Meter().install()` before any client is made; calls from the thread that made the meter are not counted (a bench
drives the run from it), so the work measured runs on other threads. `part_threads` names (by prefix) the threads
of one part of the work, planning say, whose requests are also counted apart (`part_*` in the snapshot).
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from typing import Any

import botocore.session


def _value_size(value: dict[str, Any]) -> int:
    """DynamoDB's size of one attribute value (wire format)."""
    (kind, v), *_ = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        return len(v.lstrip("-").replace(".", "")) // 2 + 2
    if kind == "B":
        return len(v) if isinstance(v, bytes) else len(v) * 3 // 4
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in v)
    if kind == "NS":
        return sum(len(n) // 2 + 2 for n in v)
    if kind == "BS":
        return sum(len(b) for b in v)
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + _value_size(x) for k, x in v.items())
    if kind == "L":
        return 3 + sum(1 + _value_size(x) for x in v)
    return 0


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _key(item: dict[str, Any]) -> tuple[str, str]:
    return (item.get("pk", {}).get("S", ""), item.get("sk", {}).get("S", ""))


class Meter:
    """Request units and request counts of every DynamoDB and SQS call made by threads other than the excluded."""

    def __init__(self, part_threads: tuple[str, ...] = ()) -> None:
        self.part_threads = part_threads
        self.lock = threading.Lock()
        self.excluded = {threading.get_ident()}
        self.sizes: dict[tuple[str, str], int] = {}
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.rcu = 0.0
            self.wcu = 0.0
            self.dynamodb: Counter[str] = Counter()
            self.part_rcu = 0.0
            self.part_wcu = 0.0
            self.part_dynamodb: Counter[str] = Counter()
            self.part_rcu_by_op: Counter[str] = Counter()
            self.sqs: Counter[str] = Counter()
            self.sqs_messages_sent = 0
            self.sizes.clear()

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "rcu": self.rcu,
                "wcu": self.wcu,
                "dynamodb_requests": dict(self.dynamodb),
                "part_rcu": self.part_rcu,
                "part_wcu": self.part_wcu,
                "part_dynamodb_requests": dict(self.part_dynamodb),
                "part_rcu_by_op": {op: round(units, 1) for op, units in self.part_rcu_by_op.items()},
                "sqs_requests": dict(self.sqs),
                "sqs_messages_sent": self.sqs_messages_sent,
            }

    def install(self) -> None:
        """Register on every botocore client created from now on (boto3's and PynamoDB's alike)."""
        original = botocore.session.Session.create_client
        meter = self

        def create_client(session: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
            client = original(session, service_name, *args, **kwargs)
            if service_name in ("dynamodb", "sqs"):
                client.meta.events.register(f"before-parameter-build.{service_name}", meter._remember)
                client.meta.events.register(f"after-call.{service_name}", meter._count)
            return client

        botocore.session.Session.create_client = create_client  # type: ignore[method-assign]

    @staticmethod
    def _remember(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["bench_params"] = params

    def _count(self, http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if threading.get_ident() in self.excluded:
            return
        params = context.get("bench_params") or {}
        service = model.service_model.service_name
        with self.lock:
            if service == "sqs":
                self.sqs[model.name] += 1
                if model.name == "SendMessage":
                    self.sqs_messages_sent += 1
                elif model.name == "SendMessageBatch":
                    self.sqs_messages_sent += len(params.get("Entries", ()))
                return
            self.dynamodb[model.name] += 1
            reads, writes = self._reads(model.name, params, parsed), self._writes(model.name, params)
            self.rcu += reads
            self.wcu += writes
            if self.part_threads and threading.current_thread().name.startswith(self.part_threads):
                self.part_dynamodb[model.name] += 1
                self.part_rcu += reads
                self.part_rcu_by_op[model.name] += reads
                self.part_wcu += writes

    def _seen(self, item: dict[str, Any]) -> int:
        size = item_size(item)
        key = _key(item)
        self.sizes[key] = max(size, self.sizes.get(key, 0))
        return size

    def _reads(self, op: str, params: dict[str, Any], parsed: dict[str, Any]) -> float:
        if op == "GetItem":
            factor = 1.0 if params.get("ConsistentRead") else 0.5
            return max(1, math.ceil(self._seen(parsed.get("Item") or {}) / 4096)) * factor
        if op in ("Query", "Scan"):
            factor = 1.0 if params.get("ConsistentRead") else 0.5
            total = sum(self._seen(i) for i in parsed.get("Items") or ())
            return max(1, math.ceil(total / 4096)) * factor
        if op == "BatchGetItem":
            units = 0.0
            for table, items in (parsed.get("Responses") or {}).items():
                factor = 1.0 if params.get("RequestItems", {}).get(table, {}).get("ConsistentRead") else 0.5
                units += sum(max(1, math.ceil(self._seen(i) / 4096)) * factor for i in items)
            return units
        if op == "TransactGetItems":
            return sum(2 * max(1, math.ceil(self._seen(r.get("Item") or {}) / 4096)) for r in parsed["Responses"])
        return 0.0

    def _write_units(self, kind: str, request: dict[str, Any]) -> int:
        if kind in ("Put", "PutRequest", "PutItem"):
            return max(1, math.ceil(self._seen(request["Item"]) / 1024))
        key = _key(request.get("Key", {}))
        written = item_size(request.get("Key", {})) + sum(
            _value_size(v) for v in (request.get("ExpressionAttributeValues") or {}).values()
        )
        return max(1, math.ceil(max(self.sizes.get(key, 0), written) / 1024))

    def _writes(self, op: str, params: dict[str, Any]) -> float:
        if op in ("PutItem", "UpdateItem", "DeleteItem"):
            return self._write_units(op, params)
        if op == "BatchWriteItem":
            return sum(
                self._write_units(kind, body)
                for requests in params.get("RequestItems", {}).values()
                for request in requests
                for kind, body in request.items()
            )
        if op == "TransactWriteItems":
            return sum(
                2 * self._write_units(kind, body)
                for entry in params.get("TransactItems", ())
                for kind, body in entry.items()
                if kind != "ConditionCheck"
            )
        return 0.0
