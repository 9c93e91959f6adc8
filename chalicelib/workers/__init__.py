"""Bodies of the SQS and schedule handlers: glue between queues, domain and adapters."""

from collections.abc import Callable
from typing import Any


def remaining_seconds(event: Any) -> Callable[[], float] | None:
    """The invocation's time left in seconds, as a callable; None when no Lambda context came with the event."""
    context = getattr(event, "context", None)
    if context is None:
        return None
    return lambda: context.get_remaining_time_in_millis() / 1000
