"""The welcome's time budget, derived from the one number WeCom fixes: a WelcomeCode lives 20 s after its event.

The new-friend path is sized from that window, and only from it:

- WeCom's CreateTime is whole seconds on WeCom's clock, so a code may be up to a second older than its CreateTime
  says; with a little clock skew, MARGIN_SECONDS is kept back, and a send is over by `deadline`.
- CALL_TIMEOUT_SECONDS bounds one send_welcome_msg (WeCom answers in well under a second; past this the answer is
  taken as lost, the outcome unknown, and the send tried again: a second send of a delivered code answers 41051,
  so a retry can never welcome twice). Four seconds leave room for three attempts in what remains of the window
  after a callback and a queue hop.
- RETRY_PAUSE_SECONDS between attempts refused as busy or throttled (41096, -1, 45009, 45033): short, because the
  window is; the retries stay in the invocation, since SQS would redeliver only after the visibility timeout, when
  every code of the batch is dead.
- A code with less than MIN_ATTEMPT_SECONDS left is recorded as expired without a call: WeCom would answer 41050.
- Batch size and concurrency (see `resources.EVENTS_REALTIME`): the sends of one batch run in parallel, so a batch
  costs one send's time, not five; BATCH_SIZE × MAX_CONCURRENCY welcomes can be in flight per region.
"""

from __future__ import annotations

WELCOME_CODE_TTL_SECONDS = 20.0
MARGIN_SECONDS = 1.5
CALL_TIMEOUT_SECONDS = 4.0
RETRY_PAUSE_SECONDS = 0.5
MIN_ATTEMPT_SECONDS = 0.5
BATCH_SIZE = 5
MAX_CONCURRENCY = 20
# The new-friend function's own timeout: a whole window (retries end at the deadline) plus the hand-over of the batch
# to the events queue; the queue's visibility timeout must be at least this.
FUNCTION_TIMEOUT_SECONDS = 30


def deadline(create_time: float) -> float:
    """The last moment (epoch seconds) a send of this event's code may still be answered."""
    return create_time + WELCOME_CODE_TTL_SECONDS - MARGIN_SECONDS


def may_attempt(now: float, create_time: float) -> bool:
    """Whether a send started now can still be answered inside the code's life."""
    return now + MIN_ATTEMPT_SECONDS <= deadline(create_time)


def may_retry(now: float, create_time: float) -> bool:
    """Whether another attempt after the pause would still start inside the code's life."""
    return may_attempt(now + RETRY_PAUSE_SECONDS, create_time)
