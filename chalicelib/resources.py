"""The single declaration of the stack's tables and queues.

The local stack creates them from here, infra/ synthesizes them from here, and app.py wires its SQS handlers to
the queues named here, so the three cannot drift. Plain data: nothing here talks to AWS.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain import welcome_budget


@dataclass(frozen=True)
class Index:
    """A global secondary index with string keys, projecting all attributes."""

    name: str
    hash_key: str
    range_key: str | None = None


@dataclass(frozen=True)
class Table:
    """A DynamoDB table (on-demand) with string keys."""

    logical: str
    name: str
    hash_key: str
    range_key: str | None = None
    indexes: tuple[Index, ...] = ()
    ttl_attribute: str | None = None
    env_var: str = ""


@dataclass(frozen=True)
class Queue:
    """A standard SQS queue with its dead-letter queue and the Lambda event source that drains it.

    `provisioned_concurrency` keeps that many execution environments of the draining function initialised ahead of
    traffic, for a function with a deadline: a cold start costs a second of it."""

    logical: str
    name: str
    visibility_timeout: int
    max_receive_count: int
    batch_size: int = 10
    batching_window: int = 0
    max_concurrency: int | None = None
    provisioned_concurrency: int = 0
    retention_seconds: int = 4 * 24 * 3600
    env_var: str = ""

    @property
    def dlq_name(self) -> str:
        return f"{self.name}-dlq"


APP_NAME = "qiwei-reach"

TENANTS = Table(
    logical="tenants",
    name=f"{APP_NAME}-tenants",
    hash_key="pk",
    range_key="sk",
    indexes=(Index("gsi1", "gsi1pk", "gsi1sk"),),
    env_var="TABLE_TENANTS",
)
DATA = Table(
    logical="data",
    name=f"{APP_NAME}-data",
    hash_key="pk",
    range_key="sk",
    indexes=(Index("gsi1", "gsi1pk", "gsi1sk"), Index("gsi2", "gsi2pk", "gsi2sk")),
    ttl_attribute="expires_at",
    env_var="TABLE_DATA",
)
RUNTIME = Table(
    logical="runtime",
    name=f"{APP_NAME}-runtime",
    hash_key="pk",
    range_key="sk",
    ttl_attribute="expires_at",
    env_var="TABLE_RUNTIME",
)
TABLES: tuple[Table, ...] = (TENANTS, DATA, RUNTIME)

# The new-friend queue: sized by the welcome's budget (domain.welcome_budget). No batching window (a welcome must
# not wait for company); the visibility timeout is the function's timeout, so a batch comes back only once its
# invocation is surely over; its function is kept warm, every environment, since a burst fills them all at once.
EVENTS_REALTIME = Queue(
    logical="events_realtime",
    name=f"{APP_NAME}-events-realtime",
    visibility_timeout=welcome_budget.FUNCTION_TIMEOUT_SECONDS,
    max_receive_count=5,
    batch_size=welcome_budget.BATCH_SIZE,
    max_concurrency=welcome_budget.MAX_CONCURRENCY,
    provisioned_concurrency=welcome_budget.MAX_CONCURRENCY,
    env_var="QUEUE_EVENTS_REALTIME",
)
EVENTS = Queue(
    logical="events",
    name=f"{APP_NAME}-events",
    visibility_timeout=120,
    max_receive_count=5,
    batch_size=10,
    batching_window=1,
    max_concurrency=10,
    env_var="QUEUE_EVENTS",
)
SYNC = Queue(
    logical="sync",
    name=f"{APP_NAME}-sync",
    visibility_timeout=900,
    max_receive_count=3,
    batch_size=1,
    max_concurrency=5,
    env_var="QUEUE_SYNC",
)
PLAN = Queue(
    logical="plan",
    name=f"{APP_NAME}-plan",
    visibility_timeout=900,
    max_receive_count=3,
    batch_size=1,
    max_concurrency=16,
    env_var="QUEUE_PLAN",
)
DISPATCH = Queue(
    logical="dispatch",
    name=f"{APP_NAME}-dispatch",
    visibility_timeout=120,
    max_receive_count=10,
    batch_size=5,
    max_concurrency=10,
    env_var="QUEUE_DISPATCH",
)
# Beacon batches from shared pages, folded in bulk: up to 1,000 batches an invocation gathered over 60 s, so the
# batches of a minute's reading (a page flushes every 10 s) become one write of its view, and the counters of a
# material or sharer one write per invocation. Nothing here is urgent: alerts take the BEACON_ALERTS path.
BEACONS = Queue(
    logical="beacons",
    name=f"{APP_NAME}-beacons",
    visibility_timeout=180,
    max_receive_count=5,
    batch_size=1000,
    batching_window=60,
    max_concurrency=5,
    env_var="QUEUE_BEACONS",
)
# What must reach a salesperson within seconds: an identified customer's open, a lead, a digest come due.
BEACON_ALERTS = Queue(
    logical="beacon_alerts",
    name=f"{APP_NAME}-beacon-alerts",
    visibility_timeout=60,
    max_receive_count=5,
    batch_size=10,
    max_concurrency=10,
    env_var="QUEUE_BEACON_ALERTS",
)
QUEUES: tuple[Queue, ...] = (EVENTS_REALTIME, EVENTS, SYNC, PLAN, DISPATCH, BEACONS, BEACON_ALERTS)


def find_queue(logical: str) -> Queue:
    """The declared queue with this logical name."""
    for queue in QUEUES:
        if queue.logical == logical:
            return queue
    raise KeyError(logical)
