"""The `sync` queue's handler: a `sync.tenant` message runs one bounded step of a tenant's sync, a `groups.sync`
message one step of its group-chat sync (`services.group_sync`), a `sync.fanout` message starts the nightly runs of
a page of tenants (`services.sync`); WeCom's 45009/45033 put the message back with a delay."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from chalicelib import queues, resources
from chalicelib.config import get_settings
from chalicelib.observability import bind_context, logger
from chalicelib.services.group_sync import GROUP_SYNC_MESSAGE, GroupSync
from chalicelib.services.sync import (
    FANOUT_MESSAGE,
    SYNC_MESSAGE,
    THROTTLED_DELAY_SECONDS,
    Clock,
    Remaining,
    TenantSync,
    fan_out,
)
from chalicelib.wecom.errors import ConcurrencyLimited, RateLimited
from chalicelib.workers.sqs_batch import each_record


def handle_sync_event(event: Mapping[str, Any], remaining: Remaining, clock: Clock = time.time) -> dict[str, Any]:
    """The `sync` SQS handler: one message at a time, each within the invocation's `remaining` milliseconds."""
    return each_record(event, "sync", lambda body: handle_message(body, remaining, clock))


def handle_message(message: Mapping[str, Any], remaining: Remaining, clock: Clock = time.time) -> None:
    settings = get_settings()
    if message.get("type") == FANOUT_MESSAGE:
        fan_out(message.get("cursor"), remaining, clock, settings)
        return
    if message.get("type") not in (SYNC_MESSAGE, GROUP_SYNC_MESSAGE):
        raise ValueError(f"not a sync message: {message.get('type')!r}")
    tenant_id = str(message["tenant_id"])
    bind_context(tenant_id=tenant_id)
    step = GroupSync if message.get("type") == GROUP_SYNC_MESSAGE else TenantSync
    try:
        step(tenant_id, message, remaining, clock, settings).run()
    except (RateLimited, ConcurrencyLimited) as throttled:
        logger.warning("sync throttled by WeCom; retrying later", extra={"errcode": throttled.errcode})
        queues.publish(
            resources.SYNC, dict(message), tenant_id=tenant_id, delay_seconds=THROTTLED_DELAY_SECONDS, settings=settings
        )
