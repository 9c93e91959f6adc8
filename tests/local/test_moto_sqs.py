"""The local moto server's SQS gives moto's own answers (visible, delayed, a queue's visible messages, the retention
check, the message groups in flight) and hands each message to one of many concurrent receivers."""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter

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


def test_concurrent_receivers_get_each_message_once_and_a_long_poll_still_wakes_on_a_send(patched):
    backend = SQSBackend("cn-north-1", "123456789012")
    backend.create_queue("q")
    for i in range(300):
        backend.send_message("q", f"m{i}")
    received: Counter[str] = Counter()

    def drain() -> None:
        while batch := backend.receive_message("q", 10, 0, 60):
            received.update(m.body for m in batch)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: the race shows within a few batches
    try:
        threads = [threading.Thread(target=drain) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert len(received) == 300
    assert set(received.values()) == {1}

    woken: list[str] = []
    poll = threading.Thread(target=lambda: woken.extend(m.body for m in backend.receive_message("q", 10, 20, 60)))
    poll.start()
    time.sleep(0.2)
    started = time.monotonic()
    backend.send_message("q", "late")
    poll.join(timeout=10)
    assert woken == ["late"]
    assert time.monotonic() - started < 5
