"""The `plan` queue's handler: each message plans its broadcast from the checkpoint (`services.broadcast_plan`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.services.broadcast_plan import PlanWorker
from chalicelib.workers.sqs_batch import each_record


def handle_plan_message(body: dict[str, Any], remaining_seconds: Callable[[], float] | None = None) -> str:
    """Plan the broadcast named in the message from its checkpoint; a message older than the checkpoint is stale."""
    worker = PlanWorker(body["tenant_id"], remaining_seconds=remaining_seconds)
    broadcast = worker.store.get(body["broadcast_id"])
    if broadcast is not None and int(body.get("page", 0)) < broadcast.plan_page:
        return "stale"
    return worker.run(body["broadcast_id"])


def handle_plan_event(event: dict[str, Any], remaining_seconds: Callable[[], float] | None = None) -> dict[str, Any]:
    """The `plan` SQS handler: each record planned from its checkpoint."""
    return each_record(event, "plan", lambda body: handle_plan_message(body, remaining_seconds))
