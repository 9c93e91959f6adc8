"""moto's SQS fit for the local stack: the clock read once per call instead of once per message, so a deep queue
stays fast, and a receive safe beside the other receives on its queue.

moto decides whether each message is visible and whether it is delayed by building two naive datetimes and
subtracting them, for every message of the queue, on every SendMessage (the queue's attributes, with its message
counts, are computed to read one flag), every received message (again, for the retention period) and every long
poll's wake-up. With a few hundred messages queued that is hundreds of milliseconds a call: a burst of new friends
made the forward to the events queue take 1.1 s on average, most of a welcome's budget. Here `visible`, `delayed`
and a queue's visible messages compare epoch milliseconds from `time.time()` (what moto's own arithmetic computes),
and the retention check reads the queue's retention period instead of all its attributes. Answers are unchanged.

moto's threaded server runs each request on a thread of its own, and a receive checks that a message is visible,
then marks it received, with no lock between the two: once Lambda's five long polls per queue run at once, two
receives hand out the same message (eight threads draining 500 messages got 367 twice), and a receive iterates the
set of in-flight messages while another changes it ("Set changed size during iteration", a 500 to the poller). SQS
hands a message to one receiver per visibility timeout. Here a receive, a delete and a visibility change each hold
their queue's lock (the condition moto already keeps per queue for long polls; a long poll's wait releases it), and
the in-flight set is copied before it is read.

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
    "receive": SQSBackend.receive_message,
    "delete": SQSBackend.delete_message,
    "change_visibility": SQSBackend.change_message_visibility,
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


def _holding_queue_lock(name: str) -> Any:
    original = _ORIGINAL[name]

    def locked(backend: SQSBackend, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        with backend.get_queue(queue_name)._messages_lock:  # type: ignore[attr-defined]
            return original(backend, queue_name, *args, **kwargs)

    return locked


def install() -> None:
    """Patch moto's SQS in this process (again is harmless)."""
    Message.visible = property(_visible)  # type: ignore[assignment,method-assign]
    Message.delayed = property(_delayed)  # type: ignore[assignment,method-assign]
    Queue.messages = property(_messages)  # type: ignore[assignment,method-assign]
    SQSBackend.is_message_valid_based_on_retention_period = _retained  # type: ignore[method-assign]
    Queue.pending_message_groups = property(_pending_groups)  # type: ignore[assignment,method-assign]
    SQSBackend.receive_message = _holding_queue_lock("receive")  # type: ignore[method-assign]
    SQSBackend.delete_message = _holding_queue_lock("delete")  # type: ignore[method-assign]
    SQSBackend.change_message_visibility = _holding_queue_lock("change_visibility")  # type: ignore[method-assign]


def uninstall() -> None:
    """Give moto its own SQS back."""
    Message.visible = _ORIGINAL["visible"]  # type: ignore[method-assign]
    Message.delayed = _ORIGINAL["delayed"]  # type: ignore[method-assign]
    Queue.messages = _ORIGINAL["messages"]  # type: ignore[method-assign]
    SQSBackend.is_message_valid_based_on_retention_period = _ORIGINAL["retention"]  # type: ignore[method-assign]
    Queue.pending_message_groups = _ORIGINAL["pending_groups"]  # type: ignore[method-assign]
    SQSBackend.receive_message = _ORIGINAL["receive"]  # type: ignore[method-assign]
    SQSBackend.delete_message = _ORIGINAL["delete"]  # type: ignore[method-assign]
    SQSBackend.change_message_visibility = _ORIGINAL["change_visibility"]  # type: ignore[method-assign]


def originals() -> dict[str, Any]:
    """moto's own implementations, for tests that compare answers."""
    return dict(_ORIGINAL)
