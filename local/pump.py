"""Lambda's event sources, locally: SQS event source mappings and scheduled rules driving the app's own handlers.

For every `@app.on_sqs_message` the pump does what Lambda's poller does: long-polls the queue, gathers up to
batch_size records within the batching window, invokes the handler with a real SQS event and a Lambda context,
deletes what succeeded (partial batch failure through `batchItemFailures`), leaves the rest to reappear after the
queue's visibility timeout, and never runs more than maximum_concurrency batches at once. Redrive to the DLQ after
maxReceiveCount is done by moto's SQS itself, on receive, as AWS does. Every `@app.schedule(Rate(...))` handler runs
at its rate (divided by `speed`) with a scheduled-event payload.

Given `isolation`, each function's invocations run in worker processes of its own (`local.function_processes`), as
Lambda runs them in execution environments of their own; without it they run on the pump's threads (tests of the
pump's semantics with handlers defined in the test).
"""

from __future__ import annotations

import base64
import multiprocessing.context
import re
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chalice.app import Chalice, Rate, ScheduledEventConfig, SQSEventConfig
from chalice.local import LambdaContext

from chalicelib import resources
from chalicelib.config import Settings
from chalicelib.observability import logger
from local.aws import FAKE_ACCOUNT_ID
from local.function_processes import FunctionProcesses, FunctionSpec

# What Lambda's poller asks SQS for: every system attribute and every message attribute.
_SYSTEM_ATTRIBUTES = ["All"]
_SQS_RECEIVE_MAX = 10
# Lambda polls a queue with five long polls at once from the start (and more as the backlog grows): one poller
# receiving 5 messages while a receive takes a few hundred milliseconds caps a function far below its concurrency.
POLLERS_PER_SOURCE = 5
BULK_NICENESS = 10
_RATE_UNIT_SECONDS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}
_RATE_STRING = re.compile(r"^rate\((\d+)\s+(minutes?|hours?|days?)\)$")


def partition(region: str) -> str:
    """The ARN partition of a region (China regions live in aws-cn)."""
    return "aws-cn" if region.startswith("cn-") else "aws"


@dataclass
class HandlerStats:
    """What happened to one handler's invocations; read by tests and benches."""

    invocations: int = 0
    records: int = 0
    deleted: int = 0
    reported_failures: int = 0
    failed_invocations: int = 0
    in_flight: int = 0
    peak_concurrency: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def started(self, records: int) -> None:
        with self.lock:
            self.invocations += 1
            self.records += records
            self.in_flight += 1
            self.peak_concurrency = max(self.peak_concurrency, self.in_flight)

    def finished(self, *, deleted: int, reported_failures: int, failed: bool) -> None:
        with self.lock:
            self.in_flight -= 1
            self.deleted += deleted
            self.reported_failures += reported_failures
            self.failed_invocations += int(failed)


@dataclass(frozen=True)
class LambdaLimits:
    """The function settings a Lambda context reports (timeout, memory)."""

    timeout_seconds: int = 30
    memory_mb: int = 256


@dataclass(frozen=True)
class ProcessIsolation:
    """Run every function in processes of its own: the app to load there ('module:attribute'), the environment,
    the forkserver context the workers start from, whether the provisioned concurrency that
    queues declare is started with the stack, and the CPU niceness of the functions without provisioned concurrency
    (on AWS every function has CPU of its own, so bulk work never delays the function with a deadline; on two
    shared cores a lower priority for bulk work is the nearest equivalent; 0 shares the CPU equally)."""

    app_ref: str
    environment: dict[str, str]
    context: multiprocessing.context.ForkServerContext
    provision: bool = True
    bulk_niceness: int = BULK_NICENESS


def sqs_event_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One record of a Lambda SQS event, built from a ReceiveMessage result as Lambda builds it."""
    attributes = {
        name: message["Attributes"][name]
        for name in (
            "ApproximateReceiveCount",
            "SentTimestamp",
            "SenderId",
            "ApproximateFirstReceiveTimestamp",
            "AWSTraceHeader",
            "MessageGroupId",
            "MessageDeduplicationId",
            "SequenceNumber",
        )
        if name in message.get("Attributes", {})
    }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": {
            name: _message_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def _message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    """SQS API attribute shape → Lambda event shape (camelCase, binary as base64 text)."""
    out: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": value["DataType"]}
    if "StringValue" in value:
        out["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        out["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
    return out


def scheduled_event(rule_arn: str, region: str) -> dict[str, Any]:
    """The payload EventBridge sends to a scheduled rule's target."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": FAKE_ACCOUNT_ID,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


def rate_seconds(expression: Any) -> float | None:
    """The period of a rate expression in seconds; None for cron expressions (not run locally)."""
    if isinstance(expression, Rate):
        return expression.value * _RATE_UNIT_SECONDS[expression.unit.lower()]
    if isinstance(expression, str) and (match := _RATE_STRING.match(expression.strip())):
        return int(match.group(1)) * _RATE_UNIT_SECONDS[match.group(2)]
    return None


def failed_message_ids(result: Any, message_ids: list[str]) -> set[str] | None:
    """The records a handler's answer reports as failed; None when the answer fails the whole batch.

    Lambda treats an answer it cannot honour (an item without identifier, an id not in the batch) as a failure of
    every record.
    """
    if not isinstance(result, dict) or not result.get("batchItemFailures"):
        return set()
    failures = result["batchItemFailures"]
    ids = {item.get("itemIdentifier") for item in failures if isinstance(item, dict)}
    if len(ids) != len(failures) or not ids <= set(message_ids):
        return None
    return ids


class _SqsSource:
    """One SQS event source mapping: its poller threads and its bounded pool of invocations."""

    def __init__(self, pump: EventSourcePump, config: SQSEventConfig, handler: Callable[..., Any]) -> None:
        self.pump = pump
        self.config = config
        self.handler = handler
        self.queue_name = config.queue or (config.queue_arn or "").rsplit(":", 1)[-1]
        self.concurrency = config.maximum_concurrency or pump.default_concurrency
        self.stats = HandlerStats()
        self.slots = threading.Semaphore(self.concurrency)
        self.executor = ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"pump-{config.name}")
        self.queue_url = pump.sqs.get_queue_url(QueueName=self.queue_name)["QueueUrl"]
        self.queue_arn = pump.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.threads = [
            threading.Thread(target=self._poll, name=f"pump-poll-{config.name}-{i}", daemon=True)
            for i in range(min(self.concurrency, POLLERS_PER_SOURCE))
        ]

    def _poll(self) -> None:
        stopping = self.pump.stopping
        while not stopping.is_set():
            if not self.slots.acquire(timeout=0.1):
                continue
            try:
                messages = self._gather()
            except Exception:
                logger.exception("pump: receive failed", extra={"queue": self.queue_name})
                messages = []
                stopping.wait(1.0)
            if messages:
                self.executor.submit(self._invoke, messages)
            else:
                self.slots.release()

    def _gather(self) -> list[dict[str, Any]]:
        """Up to batch_size messages: one long poll, then more until the batching window closes."""
        batch_size = self.config.batch_size
        window = self.config.maximum_batching_window_in_seconds
        messages: list[dict[str, Any]] = []
        deadline = 0.0
        while len(messages) < batch_size and not self.pump.stopping.is_set():
            if messages:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                wait = min(int(remaining), self.pump.wait_time_seconds)
            else:
                wait = self.pump.wait_time_seconds
            received = self.pump.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(_SQS_RECEIVE_MAX, batch_size - len(messages)),
                WaitTimeSeconds=wait,
                MessageSystemAttributeNames=_SYSTEM_ATTRIBUTES,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not messages and not received:
                return []
            if not messages:
                deadline = time.monotonic() + window
            messages.extend(received)
            if window <= 0:
                break
            if not received:
                self.pump.stopping.wait(min(0.05, max(0.0, deadline - time.monotonic())))
        return messages

    def _invoke(self, messages: list[dict[str, Any]]) -> None:
        try:
            self._invoke_batch(messages)
        finally:
            self.slots.release()

    def _invoke_batch(self, messages: list[dict[str, Any]]) -> None:
        region = self.pump.settings.region
        event = {"Records": [sqs_event_record(m, self.queue_arn, region) for m in messages]}
        ids = [m["MessageId"] for m in messages]
        self.stats.started(len(messages))
        result, failed = self.pump.invoke(self.config.name, self.handler, event)
        failures = None if failed else failed_message_ids(result, ids)
        if failures is None:
            self.stats.finished(deleted=0, reported_failures=0, failed=True)
            return
        done = [m for m in messages if m["MessageId"] not in failures]
        for start in range(0, len(done), _SQS_RECEIVE_MAX):
            chunk = done[start : start + _SQS_RECEIVE_MAX]
            self.pump.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
        self.stats.finished(deleted=len(done), reported_failures=len(failures), failed=False)


class _Schedule:
    """One scheduled rule: a thread that invokes its handler every period / speed seconds."""

    def __init__(self, pump: EventSourcePump, config: ScheduledEventConfig, handler: Callable[..., Any]) -> None:
        self.pump = pump
        self.config = config
        self.handler = handler
        self.period = (rate_seconds(config.schedule_expression) or 0) / pump.speed
        self.stats = HandlerStats()
        region = pump.settings.region
        self.rule_arn = (
            f"arn:{partition(region)}:events:{region}:{FAKE_ACCOUNT_ID}:rule/{pump.function_prefix}-{config.name}-event"
        )
        self.threads = [threading.Thread(target=self._run, name=f"pump-schedule-{config.name}", daemon=True)]

    def _run(self) -> None:
        next_run = time.monotonic() + self.period
        while not self.pump.stopping.wait(max(0.0, next_run - time.monotonic())):
            next_run += self.period
            self.stats.started(1)
            _, failed = self.pump.invoke(
                self.config.name, self.handler, scheduled_event(self.rule_arn, self.pump.settings.region)
            )
            self.stats.finished(deleted=0, reported_failures=0, failed=failed)


class EventSourcePump:
    """Drives the app's SQS and scheduled handlers as Lambda would, against the queues `sqs` reaches."""

    def __init__(
        self,
        app: Chalice,
        settings: Settings,
        sqs: Any,
        *,
        stage: str = "local",
        speed: float = 1.0,
        wait_time_seconds: int = 1,
        default_concurrency: int = 4,
        limits: Callable[[str], LambdaLimits] | None = None,
        isolation: ProcessIsolation | None = None,
    ) -> None:
        """`sqs` is a boto3 SQS client (thread-safe, with a connection pool at least as large as the concurrency);
        `speed` divides schedule periods; `wait_time_seconds` is the long poll, which also bounds how long stop()
        waits for an idle poller; `default_concurrency` applies to handlers without maximum_concurrency; `limits` gives
        each handler's function settings by handler name (its `lambda_functions` entry in the Chalice config);
        `isolation` runs each function in worker processes of its own."""
        self.app = app
        self.settings = settings
        self.sqs = sqs
        self.speed = speed
        self.wait_time_seconds = wait_time_seconds
        self.default_concurrency = default_concurrency
        self.limits = limits or (lambda _name: LambdaLimits())
        self.function_prefix = f"{app.app_name}-{stage}"
        self.isolation = isolation
        self.functions: dict[str, FunctionProcesses] = {}
        self.stopping = threading.Event()
        self._sqs_sources: list[_SqsSource] = []
        self._schedules: list[_Schedule] = []

    @property
    def stats(self) -> dict[str, HandlerStats]:
        """Per handler name: invocations, records, deletions, failures, peak concurrency."""
        return {s.config.name: s.stats for s in [*self._sqs_sources, *self._schedules]}

    def start(self) -> None:
        """Resolve every event source of the app and start polling and scheduling."""
        for config in self.app.event_sources:
            handler = self.app.handler_map[config.name]
            if isinstance(config, SQSEventConfig):
                self._sqs_sources.append(_SqsSource(self, config, handler))
            elif isinstance(config, ScheduledEventConfig):
                if rate_seconds(config.schedule_expression) is None:
                    logger.warning("pump: cron schedules are not run locally", extra={"handler": config.name})
                    continue
                self._schedules.append(_Schedule(self, config, handler))
        if self.isolation is not None:
            self.functions = self._worker_processes(self.isolation)
        for source in [*self._sqs_sources, *self._schedules]:
            for thread in source.threads:
                thread.start()

    def _worker_processes(self, isolation: ProcessIsolation) -> dict[str, FunctionProcesses]:
        """Worker processes for every function: as many as its SQS mapping's concurrency, one per schedule; the
        provisioned concurrency its queue declares started ahead."""
        declared = {self.settings.queue(q): q for q in resources.QUEUES}
        provisioned = {
            s.config.name: declared[s.queue_name].provisioned_concurrency
            for s in self._sqs_sources
            if s.queue_name in declared
        }
        functions: dict[str, FunctionProcesses] = {}
        for source in [*self._sqs_sources, *self._schedules]:
            name = source.config.name
            limits = self.limits(name)
            spec = FunctionSpec(
                app_ref=isolation.app_ref,
                handler_name=name,
                function_name=f"{self.function_prefix}-{name}",
                timeout_seconds=limits.timeout_seconds,
                memory_mb=limits.memory_mb,
                niceness=0 if provisioned.get(name) else isolation.bulk_niceness,
            )
            concurrency = source.concurrency if isinstance(source, _SqsSource) else 1
            functions[name] = FunctionProcesses(spec, concurrency, isolation.environment, isolation.context)
            if isolation.provision and provisioned.get(name):
                functions[name].provision(provisioned[name])
        return functions

    def stop(self) -> None:
        """Stop polling; returns once every poller has stopped and every running batch has finished (in worker
        processes: has been ended)."""
        self.stopping.set()
        for source in [*self._sqs_sources, *self._schedules]:
            for thread in source.threads:
                thread.join()
        for function in self.functions.values():
            function.stop()
        for sqs_source in self._sqs_sources:
            sqs_source.executor.shutdown(wait=True)

    def invoke(self, name: str, handler: Callable[..., Any], event: dict[str, Any]) -> tuple[Any, bool]:
        """Call a handler as Lambda would, under a fresh correlation id; returns (result, failed).

        An exception, or running past the function's timeout, fails the invocation.
        """
        if self.functions:
            invocation = self.functions[name].invoke(event)
            if invocation.failed and not self.stopping.is_set():
                logger.error("pump: invocation failed", extra={"handler": name, "reason": invocation.reason})
            return invocation.result, invocation.failed
        limits = self.limits(name)
        context = LambdaContext(
            function_name=f"{self.function_prefix}-{name}",
            memory_size=limits.memory_mb,
            max_runtime_ms=limits.timeout_seconds * 1000,
        )
        logger.thread_safe_append_keys(correlation_id=context.aws_request_id)
        try:
            result = handler(event, context)
        except Exception:
            logger.exception("pump: handler failed", extra={"handler": name})
            return None, True
        finally:
            logger.thread_safe_remove_keys(["correlation_id"])
        if context.get_remaining_time_in_millis() < 0:
            logger.error("pump: handler ran past its timeout", extra={"handler": name})
            return result, True
        return result, False
