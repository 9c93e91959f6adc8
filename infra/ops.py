"""Repair tools for one region's stack, run by an operator with the region's credentials (boto3's usual chain).

    python -m infra.ops replay --queue dispatch [--tenant ID] [--dry-run] [--max 1000]
    python -m infra.ops pause  --tenant ID --reason "..." [--drain] [--max 1000]
    python -m infra.ops resume --tenant ID [--max 1000]
    python -m infra.ops health --tenant ID

`replay` moves messages from a queue's dead-letter queue back to the queue, after a fix: each message is sent again
(same body, attributes and tenant message group) and deleted from the DLQ only once the send succeeded, so a crash
or a refused send loses nothing (at worst a message is delivered twice, which every handler's dedupe absorbs). It
stops after `--max` messages or when the DLQ has no message it has not seen in this run; with `--tenant`, the other
tenants' messages stay where they are. `--dry-run` only counts.

`pause` suspends a tenant (its admins are refused, the nightly sync skips it) and, with `--drain`, parks the
tenant's queued messages: every shared queue is read once through (bounded by `--max` per queue), the tenant's
messages are moved to that queue's DLQ (sent first, deleted after) and the others made visible again when the pass
ends (a pass of 1,000 messages holds them back a few seconds).
`resume` makes the tenant active and replays its parked messages from every DLQ. `health` prints the tenant's
standing, last callback, last sync run and the backlog of every queue as one JSON object.

Queues are named by their logical name in chalicelib.resources (events_realtime, events, sync, plan, dispatch, ...).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from chalicelib import queues, resources
from chalicelib.config import Settings, get_settings
from chalicelib.domain import plans
from chalicelib.store import tenants, usage
from chalicelib.store.sync_runs import SyncRuns

DEFAULT_MAX = 1000
HOLD_SECONDS = 120
"""How long a message read by a tool stays hidden while the pass goes on (a pass makes the ones it did not move
visible again when it ends; this bounds the wait if the tool dies mid-pass)."""
DEPTH_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


@dataclass
class Moved:
    """What a move did: messages moved (or that would be, in a dry run), left in place (other tenants), seen."""

    moved: int = 0
    left: int = 0
    seen: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"moved": self.moved, "left": self.left, "seen": self.seen}


def _url(client: Any, name: str) -> str:
    return client.get_queue_url(QueueName=name)["QueueUrl"]


def _tenant_of(message: dict[str, Any]) -> str | None:
    attribute = message.get("MessageAttributes", {}).get(queues.TENANT_ATTRIBUTE)
    return attribute["StringValue"] if attribute else None


def _read_through(client: Any, url: str, limit: int) -> Iterator[dict[str, Any]]:
    """Each message of the queue at most once, hidden for HOLD_SECONDS as it is read, until `limit` messages were
    read or the queue shows none it has not shown before."""
    seen: set[str] = set()
    while len(seen) < limit:
        batch = client.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(10, limit - len(seen)),
            MessageAttributeNames=["All"],
            VisibilityTimeout=HOLD_SECONDS,
        ).get("Messages", [])
        fresh = [m for m in batch if m["MessageId"] not in seen]
        if not fresh:
            return
        for message in fresh:
            seen.add(message["MessageId"])
            yield message


def move_messages(
    client: Any,
    source: str,
    target: str,
    *,
    limit: int,
    wanted: Callable[[dict[str, Any]], bool],
    dry_run: bool = False,
) -> Moved:
    """Move the `wanted` messages of queue `source` to queue `target` (sent first, deleted after), at most `limit`
    read. The messages not moved (others', or all in a dry run) are made visible again when the pass ends."""
    source_url, target_url = _url(client, source), _url(client, target)
    counts = Moved()
    held: list[str] = []
    try:
        for message in _read_through(client, source_url, limit):
            counts.seen += 1
            if not wanted(message):
                counts.left += 1
                held.append(message["ReceiptHandle"])
                continue
            counts.moved += 1
            if dry_run:
                held.append(message["ReceiptHandle"])
                continue
            send: dict[str, Any] = {
                "QueueUrl": target_url,
                "MessageBody": message["Body"],
                **queues.fairness(_tenant_of(message)),
            }
            if message.get("MessageAttributes"):
                send["MessageAttributes"] = message["MessageAttributes"]
            client.send_message(**send)
            client.delete_message(QueueUrl=source_url, ReceiptHandle=message["ReceiptHandle"])
    finally:
        for handle in held:
            client.change_message_visibility(QueueUrl=source_url, ReceiptHandle=handle, VisibilityTimeout=0)
    return counts


def _for_tenant(tenant_id: str | None) -> Callable[[dict[str, Any]], bool]:
    return lambda message: tenant_id is None or _tenant_of(message) == tenant_id


def replay(
    queue: resources.Queue,
    *,
    tenant_id: str | None = None,
    limit: int = DEFAULT_MAX,
    dry_run: bool = False,
    settings: Settings | None = None,
) -> Moved:
    """Move the queue's dead letters (of one tenant, or all) back to the queue."""
    settings = settings or get_settings()
    name = settings.queue(queue)
    return move_messages(
        queues.sqs_client(settings), f"{name}-dlq", name, limit=limit, wanted=_for_tenant(tenant_id), dry_run=dry_run
    )


def pause(tenant_id: str, reason: str, *, drain: bool, limit: int = DEFAULT_MAX) -> dict[str, Any]:
    """Suspend the tenant; with `drain`, park its queued messages in each queue's DLQ."""
    tenants.update_tenant(tenant_id, int(time.time()), status=plans.SUSPENDED_STATUS, status_reason=reason)
    parked: dict[str, Any] = {}
    if drain:
        settings = get_settings()
        client = queues.sqs_client(settings)
        for queue in resources.QUEUES:
            name = settings.queue(queue)
            parked[queue.logical] = move_messages(
                client, name, f"{name}-dlq", limit=limit, wanted=_for_tenant(tenant_id)
            ).as_dict()
    return {"tenant_id": tenant_id, "status": plans.SUSPENDED_STATUS, "parked": parked}


def resume(tenant_id: str, *, limit: int = DEFAULT_MAX) -> dict[str, Any]:
    """Make the tenant active again and replay its messages from every DLQ."""
    tenants.update_tenant(tenant_id, int(time.time()), status=plans.ACTIVE_STATUS, status_reason=None)
    replayed = {q.logical: replay(q, tenant_id=tenant_id, limit=limit).as_dict() for q in resources.QUEUES}
    return {"tenant_id": tenant_id, "status": plans.ACTIVE_STATUS, "replayed": replayed}


def health(tenant_id: str) -> dict[str, Any]:
    """The tenant's standing, last callback, last sync run, and every queue's backlog (region-wide: SQS cannot count
    one tenant's messages without reading them)."""
    tenant = tenants.get_tenant(tenant_id)
    if tenant is None:
        raise tenants.TenantNotFound(tenant_id)
    now = int(time.time())
    counts = usage.usage_of([tenant_id], usage.month_of(now))[tenant_id]
    run = SyncRuns(tenant_id).current()
    settings = get_settings()
    client = queues.sqs_client(settings)
    backlog = {}
    for queue in resources.QUEUES:
        name = settings.queue(queue)
        depth = client.get_queue_attributes(QueueUrl=_url(client, name), AttributeNames=list(DEPTH_ATTRIBUTES))
        dead = client.get_queue_attributes(QueueUrl=_url(client, f"{name}-dlq"), AttributeNames=[DEPTH_ATTRIBUTES[0]])
        backlog[queue.logical] = {
            "visible": int(depth["Attributes"][DEPTH_ATTRIBUTES[0]]),
            "in_flight": int(depth["Attributes"][DEPTH_ATTRIBUTES[1]]),
            "delayed": int(depth["Attributes"][DEPTH_ATTRIBUTES[2]]),
            "dead_letters": int(dead["Attributes"][DEPTH_ATTRIBUTES[0]]),
        }
    return {
        "tenant_id": tenant_id,
        "standing": plans.standing(tenant.status, tenant.expires_at, now).name.lower(),
        "status_reason": tenant.status_reason,
        "last_callback_at": counts.last_at.get(usage.CALLBACKS),
        "last_sync": run.as_dict() if run else None,
        "backlog": backlog,
    }


def _queue(logical: str) -> resources.Queue:
    try:
        return resources.find_queue(logical)
    except KeyError:
        raise argparse.ArgumentTypeError(
            f"unknown queue {logical!r}; one of {', '.join(q.logical for q in resources.QUEUES)}"
        ) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.ops", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    replay_cmd = commands.add_parser("replay", help="move a queue's dead letters back to it")
    replay_cmd.add_argument("--queue", required=True, type=_queue)
    replay_cmd.add_argument("--tenant")
    replay_cmd.add_argument("--dry-run", action="store_true")
    replay_cmd.add_argument("--max", type=int, default=DEFAULT_MAX)
    pause_cmd = commands.add_parser("pause", help="suspend a tenant, optionally parking its queued messages")
    pause_cmd.add_argument("--tenant", required=True)
    pause_cmd.add_argument("--reason", required=True)
    pause_cmd.add_argument("--drain", action="store_true")
    pause_cmd.add_argument("--max", type=int, default=DEFAULT_MAX)
    resume_cmd = commands.add_parser("resume", help="make a tenant active and replay its parked messages")
    resume_cmd.add_argument("--tenant", required=True)
    resume_cmd.add_argument("--max", type=int, default=DEFAULT_MAX)
    health_cmd = commands.add_parser("health", help="a tenant's standing, last callback, last sync, backlog")
    health_cmd.add_argument("--tenant", required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "replay":
            moved = replay(args.queue, tenant_id=args.tenant, limit=args.max, dry_run=args.dry_run)
            answer: dict[str, Any] = {"queue": args.queue.logical, "dry_run": args.dry_run, **moved.as_dict()}
        elif args.command == "pause":
            answer = pause(args.tenant, args.reason, drain=args.drain, limit=args.max)
        elif args.command == "resume":
            answer = resume(args.tenant, limit=args.max)
        else:
            answer = health(args.tenant)
    except tenants.TenantNotFound:
        print(f"no tenant {args.tenant!r} in this region", file=sys.stderr)
        return 2
    print(json.dumps(answer, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
