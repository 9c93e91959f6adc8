"""The dispatch worker's pure decisions: when a failed add_msg_template is tried again and after how long, and which
of WeCom's listed mass messages is a batch whose answer was lost.

Retries: WeCom's limits (45009/45033) and the batch's own errors are counted apart, so a batch that waited its turn
through many throttled minutes still has all its tries for a -1. Delays go through SQS (at most 900 s), never a sleep.

Recognising a batch (reconcile): a listed message must carry the broadcast's text and must not be a msgid another
batch of the broadcast already holds; its recipients must be a non-empty subset of the batch's recipients. A
sender's batches of one broadcast have disjoint recipients, so at most one candidate fits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from chalicelib.domain.dispatch_state import BatchState
from chalicelib.domain.wecom_limits import BLOCK_SECONDS_AFTER_MINUTE_LIMIT

MAX_ATTEMPTS = 8
MAX_THROTTLED_ATTEMPTS = 40
MAX_DELAY_SECONDS = 900
BACKOFF_CAP_SECONDS = 300.0


class Failure(Enum):
    """What kind of failure a send met: WeCom's per-API quota, its concurrency limit, or anything else."""

    RATE_LIMITED = "rate_limited"
    CONCURRENCY_LIMITED = "concurrency_limited"
    OTHER = "other"

    @property
    def throttled(self) -> bool:
        return self is not Failure.OTHER


@dataclass(frozen=True)
class Retry:
    """Try again after `delay` seconds, or give up after `tries` tries of this kind."""

    give_up: bool
    tries: int
    delay: int = 0


def queue_delay(seconds: float) -> int:
    """A wait as an SQS delay: whole seconds, at least 1, at most SQS's 900."""
    return max(1, min(MAX_DELAY_SECONDS, math.ceil(seconds)))


def after_failure(state: BatchState, failure: Failure, jitter: float) -> Retry:
    """Whether and when a batch in `state` (before its claim is released) is tried again; `jitter` in [0, 1)."""
    if failure.throttled:
        tries, limit = state.throttled + 1, MAX_THROTTLED_ATTEMPTS
    else:
        tries, limit = state.attempts - state.throttled, MAX_ATTEMPTS
    if tries >= limit:
        return Retry(True, tries)
    if failure is Failure.RATE_LIMITED:
        wait = float(BLOCK_SECONDS_AFTER_MINUTE_LIMIT)
    elif failure is Failure.CONCURRENCY_LIMITED:
        wait = 1 + jitter * 2
    else:
        wait = min(BACKOFF_CAP_SECONDS, 2.0**state.attempts) * (0.5 + jitter / 2)
    return Retry(False, tries, queue_delay(wait))


def candidate_msgid(message: Mapping[str, Any], text: str, taken: set[str]) -> str | None:
    """The msgid of a listed mass message that may be the lost batch (its text, not held by another batch)."""
    msgid = str(message.get("msgid", ""))
    if not msgid or msgid in taken or (message.get("text") or {}).get("content", "") != text:
        return None
    return msgid


def is_the_batch(accepted: set[str], wanted: set[str]) -> bool:
    """Whether a candidate's recipients make it the batch: some, and none outside the batch's recipients."""
    return bool(accepted) and (accepted <= wanted or not wanted)
