"""The `plan` queue's handler: each message splits its broadcast into planning shards or plans one shard from its
checkpoint (`services.broadcast_plan`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.services.broadcast_plan import PlanWorker
from chalicelib.workers.sqs_batch import each_record


def handle_plan_message(body: dict[str, Any], remaining_seconds: Callable[[], float] | None = None) -> str:
    """Split the broadcast named in the message, or plan the named shard from its checkpoint."""
    worker = PlanWorker(body["tenant_id"], remaining_seconds=remaining_seconds)
    shard = body.get("shard")
    return worker.run(body["broadcast_id"], None if shard is None else int(shard), int(body.get("page", 0)))


def handle_plan_event(event: dict[str, Any], remaining_seconds: Callable[[], float] | None = None) -> dict[str, Any]:
    """The `plan` SQS handler: each record planned from its checkpoint."""
    return each_record(event, "plan", lambda body: handle_plan_message(body, remaining_seconds))
