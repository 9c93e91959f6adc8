"""The `dispatch` queue's handler: each message is a batch to send (`services.dispatch`) or a broadcast's results to
follow (`services.broadcast_results`); a wait is a re-publish with a delay, never a sleep."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib import queues, resources
from chalicelib.config import Settings, get_settings
from chalicelib.observability import bind_context
from chalicelib.services.broadcast_results import follow_broadcast
from chalicelib.services.dispatch import RECORD_OVERHEAD_SECONDS, Dispatcher, Outcome
from chalicelib.workers.sqs_batch import each_record


def handle_dispatch_message(body: dict[str, Any], settings: Settings | None = None) -> Outcome:
    """The `dispatch` SQS handler's body for one message: a batch to send, or a broadcast's results to follow."""
    tenant_id = body["tenant_id"]
    if body.get("type") == "follow":
        return follow_broadcast(tenant_id, body["broadcast_id"], cursor=body.get("cursor", ""), settings=settings)
    return Dispatcher(tenant_id, settings).handle(
        body["broadcast_id"], body["batch_id"], float(body.get("turn_at") or 0)
    )


def requeue(body: dict[str, Any], outcome: Outcome, settings: Settings | None = None) -> None:
    """Put a message back with a delay (the Lambda never sleeps while waiting)."""
    body = {k: v for k, v in body.items() if k not in ("cursor", "turn_at")}
    if outcome.cursor:
        body["cursor"] = outcome.cursor
    if outcome.turn_at:
        body["turn_at"] = outcome.turn_at
    queues.publish(
        resources.DISPATCH,
        body,
        tenant_id=body.get("tenant_id"),
        delay_seconds=outcome.delay,
        settings=settings,
    )


def record_reserve_seconds(settings: Settings) -> float:
    """The time a record may need once started: two WeCom calls at their timeout (a send, or a reconcile's list and
    result) and the DynamoDB writes around them."""
    return 2 * settings.wecom_timeout_seconds + RECORD_OVERHEAD_SECONDS


def handle_dispatch_event(
    event: dict[str, Any],
    settings: Settings | None = None,
    remaining_seconds: Callable[[], float] | None = None,
) -> dict[str, Any]:
    """The `dispatch` SQS handler: each record handled; a wait is a re-publish with a delay and an acknowledgement;
    an unexpected error leaves the record to SQS (retried, then the DLQ) and is reported per record.

    A record is not started when the invocation has less than `record_reserve_seconds` left: it is re-published to
    run at once in another invocation, rather than be cut off by Lambda's timeout holding a claim (which would stall
    its batch for a lease and a reconcile) and bring the whole batch back after the visibility timeout."""
    settings = settings or get_settings()
    reserve = record_reserve_seconds(settings)

    def handle(body: dict[str, Any]) -> None:
        bind_context(tenant_id=body.get("tenant_id"), broadcast_id=body.get("broadcast_id", ""))
        if remaining_seconds is not None and remaining_seconds() < reserve:
            requeue(body, Outcome("deferred", 1), settings)
            return
        outcome = handle_dispatch_message(body, settings)
        if outcome.retry:
            requeue(body, outcome, settings)

    return each_record(event, "dispatch", handle)
