"""The every-minute schedule: start broadcasts whose send time has come, and queue follow passes that are due; submit
due moment tasks and follow posted ones (`services.moments`). A broadcast or moment of a tenant no longer in good
standing (suspended, or its subscription ended) is cancelled with the reason instead of sent.

Timers live in minute buckets of the runtime table (`store.broadcast_timers`): each run Queries the buckets of the last
`LOOKBACK_MINUTES` minutes up to now (so a missed or failed run is caught up by the next one), handles the entries
whose time has come, and deletes them. Handling is idempotent: starting is a conditional status change and a
follow pass reads WeCom's records again, so an entry handled twice does no harm.
"""

from __future__ import annotations

import time
from typing import Any

from chalicelib import queues, resources
from chalicelib.config import Settings, get_settings
from chalicelib.domain.broadcasts import BroadcastConflict, BroadcastNotFound
from chalicelib.observability import logger
from chalicelib.services.broadcasts import start_scheduled
from chalicelib.services.moments import MOMENT_FOLLOW, MOMENT_START
from chalicelib.services.moments import run_timer as run_moment_timer
from chalicelib.store.broadcast_timers import FOLLOW, START, due_timers, minute_bucket, remove_timer

LOOKBACK_MINUTES = 15


def follow_message(tenant_id: str, broadcast_id: str) -> dict[str, Any]:
    return {"type": "follow", "v": 1, "tenant_id": tenant_id, "broadcast_id": broadcast_id}


def run_schedule(now: float | None = None, settings: Settings | None = None) -> dict[str, int]:
    """Handle every timer due by `now`; returns how many of each kind."""
    settings = settings or get_settings()
    now = time.time() if now is None else now
    buckets = [minute_bucket(now - 60 * m) for m in range(LOOKBACK_MINUTES, -1, -1)]
    handled = {START: 0, FOLLOW: 0, MOMENT_START: 0, MOMENT_FOLLOW: 0}
    for timer in due_timers(buckets):
        if timer.at > now:
            continue
        if timer.kind == START:
            try:
                start_scheduled(timer.tenant_id, timer.broadcast_id, int(now), settings=settings)
            except (BroadcastConflict, BroadcastNotFound):
                logger.info("scheduled broadcast no longer startable", extra={"broadcast_id": timer.broadcast_id})
        elif timer.kind in (MOMENT_START, MOMENT_FOLLOW):
            run_moment_timer(timer.tenant_id, timer.broadcast_id, timer.kind, now=int(now))
        elif timer.kind == FOLLOW:
            queues.publish(
                resources.DISPATCH,
                follow_message(timer.tenant_id, timer.broadcast_id),
                tenant_id=timer.tenant_id,
                settings=settings,
            )
        remove_timer(timer)
        handled[timer.kind] = handled.get(timer.kind, 0) + 1
    return handled
