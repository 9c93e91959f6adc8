"""The local moto server's SQS gives moto's own answers: visible, delayed, a queue's visible messages, the retention
check, the message groups in flight."""

from __future__ import annotations

import time

import pytest
from moto.sqs.models import Message, Queue, SQSBackend

from local import moto_sqs


@pytest.fixture
def patched():
    moto_sqs.install()
    yield moto_sqs.originals()
    moto_sqs.uninstall()


def message(visible_in: float, delayed_for: float, age: float = 0.0) -> Message:
    now_ms = time.time() * 1000
    m = Message("id", "body")
    m.visible_at = now_ms + visible_in * 1000
    m.delayed_until = now_ms + delayed_for * 1000
    m.sent_timestamp = int(now_ms - age * 1000)
    return m


CASES = [message(-5, -5), message(30, -5), message(-5, 30), message(30, 30), message(-1, 0)]


def test_visible_and_delayed_agree_with_moto(patched):
    for m in CASES:
        assert m.visible == patched["visible"].fget(m)
        assert m.delayed == patched["delayed"].fget(m)


def test_a_queues_visible_messages_and_the_retention_check_agree_with_moto(patched):
    backend = SQSBackend("cn-north-1", "123456789012")
    backend.create_queue("q", MessageRetentionPeriod="60")
    queue: Queue = backend.get_queue("q")
    queue._messages = list(CASES)
    assert queue.messages == patched["messages"].fget(queue)
    assert [m for m in CASES if m.visible and not m.delayed] == queue.messages
    for age in (0.0, 59.0, 61.0, 3600.0):
        old = message(-5, -5, age)
        assert backend.is_message_valid_based_on_retention_period("q", old) == patched["retention"](backend, "q", old)
    queue._pending_messages = {m for m in CASES[:2]}
    for i, m in enumerate(CASES[:2]):
        m.group_id = f"g{i}"
    assert queue.pending_message_groups == patched["pending_groups"].fget(queue) == {"g0", "g1"}
    assert moto_sqs.uninstall() is None
    assert Message.visible is patched["visible"]
