"""moto's SQS fit for the local stack: the clock read once per call instead of once per message, so a deep queue
stays fast, and a receive safe beside the other receives on its queue.

moto decides whether each message is visible and whether it is delayed by building two naive datetimes and
subtracting them, for every message of the queue, on every SendMessage (the queue's attributes, with its message
counts, are computed to read one flag), every received message (again, for the retention period) and every long
poll's wake-up. With a few hundred messages queued that is hundreds of milliseconds a call: a burst of new friends
made the forward to the events queue take 1.1 s on average, most of a welcome's budget. Here `visible`, `delayed`
and a queue's visible messages compare epoch milliseconds from `time.time()` (what moto's own arithmetic computes),
and the retention check reads the queue's retention period instead of all its attributes. Answers are unchanged.

Every receive also lists the message groups in flight by iterating the queue's set of in-flight messages while other
threads' receives and deletes change it ("Set changed size during iteration", a 500 to the poller), once Lambda's
five long polls per queue run at once; here the set is copied first (one C-level step under the GIL).

The moto server of the local stack installs it while it runs and removes it when it stops, so in-process moto (the
integration tests) never runs with it.
"""

from __future__ import annotations

import time
from typing import Any

from moto.sqs.models import Message, Queue, SQSBackend

_ORIGINAL = {
    "visible": Message.visible,
    "delayed": Message.delayed,
    "messages": Queue.messages,
    "retention": SQSBackend.is_message_valid_based_on_retention_period,
    "pending_groups": Queue.pending_message_groups,
}


def _visible(message: Message) -> bool:
    return time.time() * 1000.0 > message.visible_at


def _delayed(message: Message) -> bool:
    return time.time() * 1000.0 < message.delayed_until


def _messages(queue: Queue) -> list[Message]:
    now = time.time() * 1000.0
    return [m for m in queue._messages if now > m.visible_at and not now < m.delayed_until]


def _pending_groups(queue: Queue) -> set[str]:
    return {m.group_id for m in tuple(queue._pending_messages) if m.group_id is not None}


def _retained(backend: SQSBackend, queue_name: str, message: Message) -> bool:
    retention_seconds = int(backend.get_queue(queue_name).message_retention_period)  # type: ignore[attr-defined]
    return retention_seconds + message.sent_timestamp / 1000 > time.time()  # type: ignore[operator]


def install() -> None:
    """Patch moto's SQS in this process (again is harmless)."""
    Message.visible = property(_visible)  # type: ignore[assignment,method-assign]
    Message.delayed = property(_delayed)  # type: ignore[assignment,method-assign]
    Queue.messages = property(_messages)  # type: ignore[assignment,method-assign]
    SQSBackend.is_message_valid_based_on_retention_period = _retained  # type: ignore[method-assign]
    Queue.pending_message_groups = property(_pending_groups)  # type: ignore[assignment,method-assign]


def uninstall() -> None:
    """Give moto its own SQS back."""
    Message.visible = _ORIGINAL["visible"]  # type: ignore[method-assign]
    Message.delayed = _ORIGINAL["delayed"]  # type: ignore[method-assign]
    Queue.messages = _ORIGINAL["messages"]  # type: ignore[method-assign]
    SQSBackend.is_message_valid_based_on_retention_period = _ORIGINAL["retention"]  # type: ignore[method-assign]
    Queue.pending_message_groups = _ORIGINAL["pending_groups"]  # type: ignore[method-assign]


def originals() -> dict[str, Any]:
    """moto's own implementations, for tests that compare answers."""
    return dict(_ORIGINAL)
