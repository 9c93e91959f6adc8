"""The operator's repair tools (infra.ops) on moto: DLQ replay bounded and idempotent, pausing and resuming a
tenant with its queued messages parked and replayed, a tenant's health."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from chalicelib import queues, resources
from chalicelib.config import Settings
from infra import ops
from tests.tenancy import create_tenant

pytestmark = pytest.mark.filterwarnings("ignore:IAMAuthorizer is not a supported in local mode")


def _url(name: str) -> str:
    return boto3.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]


def _send(name: str, body: dict[str, Any], tenant_id: str) -> None:
    boto3.client("sqs").send_message(
        QueueUrl=_url(name),
        MessageBody=json.dumps(body),
        MessageAttributes=queues.attributes(tenant_id, "corr-1"),
    )


def _drain(name: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    out = []
    while batch := sqs.receive_message(
        QueueUrl=_url(name), MaxNumberOfMessages=10, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"]
    ).get("Messages", []):
        out += batch
        for message in batch:
            sqs.delete_message(QueueUrl=_url(name), ReceiptHandle=message["ReceiptHandle"])
    return out


def _visible(name: str) -> int:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=_url(name), AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def test_replay_counts_in_a_dry_run_moves_at_most_max_and_never_moves_a_message_twice(aws: Settings):
    name = aws.queue(resources.DISPATCH)
    for n, tenant in enumerate(("t-a", "t-a", "t-b")):
        _send(f"{name}-dlq", {"type": "dispatch", "v": 1, "n": n}, tenant)

    dry = ops.replay(resources.DISPATCH, dry_run=True)
    assert (dry.moved, dry.seen) == (3, 3)
    assert (_visible(f"{name}-dlq"), _visible(name)) == (3, 0)

    first = ops.replay(resources.DISPATCH, limit=2)
    assert first.moved == 2
    rest = ops.replay(resources.DISPATCH)
    assert rest.moved == 1
    assert ops.replay(resources.DISPATCH).as_dict() == {"moved": 0, "left": 0, "seen": 0}

    back = _drain(name)
    assert sorted(json.loads(m["Body"])["n"] for m in back) == [0, 1, 2]
    for message in back:
        tenant = message["MessageAttributes"]["tenant_id"]["StringValue"]
        assert message["Attributes"]["MessageGroupId"] == tenant
        assert message["MessageAttributes"]["correlation_id"]["StringValue"] == "corr-1"


def test_replay_of_one_tenant_leaves_the_others_dead_letters_visible(aws: Settings):
    name = aws.queue(resources.SYNC)
    _send(f"{name}-dlq", {"type": "sync", "v": 1}, "t-a")
    _send(f"{name}-dlq", {"type": "sync", "v": 1}, "t-b")
    moved = ops.replay(resources.SYNC, tenant_id="t-b")
    assert (moved.moved, moved.left) == (1, 1)
    assert _visible(f"{name}-dlq") == 1
    [back] = _drain(name)
    assert back["MessageAttributes"]["tenant_id"]["StringValue"] == "t-b"


def test_a_refused_send_leaves_the_message_in_the_dead_letter_queue(aws: Settings, monkeypatch: pytest.MonkeyPatch):
    name = aws.queue(resources.PLAN)
    _send(f"{name}-dlq", {"type": "plan", "v": 1}, "t-a")
    client = queues.sqs_client(aws)

    def refuse(**kwargs: Any) -> None:
        raise RuntimeError("send refused")

    monkeypatch.setattr(client, "send_message", refuse)
    with pytest.raises(RuntimeError, match="send refused"):
        ops.replay(resources.PLAN)
    monkeypatch.undo()
    attributes = boto3.client("sqs").get_queue_attributes(QueueUrl=_url(f"{name}-dlq"), AttributeNames=["All"])
    assert attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "1"
    assert _visible(name) == 0


def test_pausing_parks_the_tenants_messages_health_shows_it_and_resuming_brings_them_back(api, aws: Settings, capsys):
    create_tenant(api, tenant_id="paused")
    create_tenant(api, tenant_id="other")
    events = aws.queue(resources.EVENTS)
    for tenant in ("paused", "paused", "other"):
        _send(events, {"type": "event", "v": 1}, tenant)

    assert ops.main(["pause", "--tenant", "paused", "--reason", "runaway callbacks", "--drain"]) == 0
    paused = json.loads(capsys.readouterr().out)
    assert paused["parked"]["events"] == {"moved": 2, "left": 1, "seen": 3}
    assert (_visible(events), _visible(f"{events}-dlq")) == (1, 2)

    assert ops.main(["health", "--tenant", "paused"]) == 0
    health = json.loads(capsys.readouterr().out)
    assert health["standing"] == "suspended"
    assert health["status_reason"] == "runaway callbacks"
    assert health["last_sync"] is None
    assert health["last_callback_at"] is None
    assert health["backlog"]["events"] == {"visible": 1, "in_flight": 0, "delayed": 0, "dead_letters": 2}
    assert set(health["backlog"]) == {q.logical for q in resources.QUEUES}

    assert ops.main(["resume", "--tenant", "paused"]) == 0
    resumed = json.loads(capsys.readouterr().out)
    assert resumed["replayed"]["events"]["moved"] == 2
    assert (_visible(events), _visible(f"{events}-dlq")) == (3, 0)
    assert ops.health("paused")["standing"] == "active"


def test_the_cli_refuses_an_unknown_queue_and_an_unknown_tenant(aws: Settings, capsys):
    with pytest.raises(SystemExit) as refused:
        ops.main(["replay", "--queue", "nowhere"])
    assert refused.value.code == 2
    assert "unknown queue 'nowhere'" in capsys.readouterr().err
    assert ops.main(["health", "--tenant", "ghost"]) == 2
    assert "no tenant 'ghost'" in capsys.readouterr().err
