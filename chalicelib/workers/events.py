"""The WeCom event worker: the body of the `events_realtime` and `events` SQS handlers.

Per record: decode the queued event, claim its dedupe key (`store.event_log`), apply it, mark it done. The answer is
SQS's partial batch failure, so one bad record never fails the others:

- a message that cannot be decoded (or names no valid tenant) is poison: reported failed every time, so SQS moves it
  to the DLQ after the queue's max receives; the reason is logged each time;
- RateLimited, ConcurrencyLimited, SystemBusy, WeComUnavailable, OutcomeUnknown, a token or credentials problem, or an
  unexpected exception: the claim is released and the record reported failed, so it comes back (no sleeping here);
- a permanent WeComError, an event kind the worker does not apply (unknown events, transfer_fail, ...): recorded in
  the event log with the reason and marked done. Nothing is dropped silently;
- an event whose claim is done already (WeCom's retry, SQS's redelivery) has no second effect; one another worker is
  applying right now is queued again to be looked at in BUSY_RECHECK_SECONDS (by then it is done, or its holder's
  lease has run out), rather than waiting out a visibility timeout.

Each event is claimed just before it is applied, and its claim's lease ends with the invocation (its deadline, not
the queue's visibility timeout): a claim held by an invocation Lambda killed has lapsed by the time SQS shows the
record again. When the time left would not cover one more event, the records not started are queued again as they
were and reported done: they come back at once and are not counted as a failed receive (which would walk them to
the DLQ), instead of waiting out a visibility timeout behind a killed invocation.

New friends have their own path (`RealtimeWorker`, the `events_realtime` queue): their welcome messages, all of a
batch's in parallel, and nothing else; the event then moves on to the `events` queue, where the slower fetch, store
and tag work happens. So a welcome never waits behind bulk work, and its 20 s WelcomeCode is spent on the send.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from chalicelib import queues, resources
from chalicelib.config import Settings, get_settings
from chalicelib.domain import welcome_budget
from chalicelib.domain.lifecycle import WelcomeOutcome
from chalicelib.observability import bind_context, logger
from chalicelib.queues import CORRELATION_ATTRIBUTE
from chalicelib.services.events import NotApplied, apply_event
from chalicelib.services.tenant_context import TenantContext
from chalicelib.services.transfers import poll_due_transfers
from chalicelib.services.welcome import WelcomeResult, send_welcome
from chalicelib.store.event_log import ClaimState
from chalicelib.store.keys import TENANT_ID_PATTERN
from chalicelib.wecom.errors import (
    AppNotConfigured,
    ConcurrencyLimited,
    CredentialsInvalid,
    OutcomeUnknown,
    RateLimited,
    SystemBusy,
    TokenInvalid,
    WeComError,
    WeComUnavailable,
)
from chalicelib.wecom.events import (
    NEW_FRIEND_CHANGE_TYPES,
    ExternalContactEvent,
    WeComEvent,
)

BUSY_RECHECK_SECONDS = 5

RETRYABLE = (
    RateLimited,
    ConcurrencyLimited,
    SystemBusy,
    WeComUnavailable,
    OutcomeUnknown,
    TokenInvalid,
    CredentialsInvalid,
)


class PoisonMessage(ValueError):
    """A record that can never be applied, whatever the retries."""


@dataclass
class Job:
    """One record of the batch on its way through."""

    message_id: str
    receive_count: int
    tenant_id: str
    correlation_id: str
    event: WeComEvent
    message: dict[str, Any]
    ctx: TenantContext
    owner: str
    welcome: WelcomeResult | None = None
    failed: bool = False

    @property
    def wants_welcome(self) -> bool:
        event = self.event
        return (
            isinstance(event, ExternalContactEvent)
            and event.change_type in NEW_FRIEND_CHANGE_TYPES
            and bool(event.welcome_code)
        )


def _decode(record: dict[str, Any], settings: Settings) -> Job:
    try:
        message = json.loads(record["body"])
    except (KeyError, TypeError, ValueError):
        raise PoisonMessage("body is not JSON") from None
    if not isinstance(message, dict):
        raise PoisonMessage("body is not a JSON object")
    tenant_id = message.get("tenant_id")
    if not isinstance(tenant_id, str) or not TENANT_ID_PATTERN.fullmatch(tenant_id):
        raise PoisonMessage("no valid tenant_id")
    try:
        event = WeComEvent.from_message(message)
    except ValueError as error:
        raise PoisonMessage(str(error)) from None
    attributes = record.get("messageAttributes") or {}
    correlation = (
        (attributes.get(CORRELATION_ATTRIBUTE) or {}).get("stringValue")
        or message.get("correlation_id")
        or record["messageId"]
    )
    return Job(
        message_id=record["messageId"],
        receive_count=int((record.get("attributes") or {}).get("ApproximateReceiveCount", 1)),
        tenant_id=tenant_id,
        correlation_id=correlation,
        event=event,
        message=message,
        ctx=TenantContext(tenant_id, settings),
        owner=f"{record['messageId']}/{uuid.uuid4().hex[:8]}",
    )


def decode_or_log(record: dict[str, Any], queue: resources.Queue, settings: Settings) -> Job | None:
    """The record's job, or None for a poison message (logged with its reason and whether it now goes to the DLQ)."""
    try:
        return _decode(record, settings)
    except PoisonMessage as error:
        receives = int((record.get("attributes") or {}).get("ApproximateReceiveCount", 1))
        logger.error(
            "poison message",
            extra={
                "reason": str(error),
                "message_id": record.get("messageId"),
                "receive_count": receives,
                "to_dlq": receives >= queue.max_receive_count,
            },
        )
        return None


def publish_jobs(
    queue: resources.Queue,
    jobs: list[Job],
    message_of: Callable[[Job], dict[str, Any]],
    settings: Settings,
    delay_seconds: int = 0,
) -> list[str]:
    """Queue one message per job on `queue`, grouped by tenant; the message ids of the jobs that could not be queued."""
    by_tenant: dict[str, list[Job]] = {}
    for job in jobs:
        by_tenant.setdefault(job.tenant_id, []).append(job)
    failed: list[str] = []
    for tenant_id, group in by_tenant.items():
        messages = [{**message_of(job), "correlation_id": job.correlation_id} for job in group]
        try:
            queues.publish_batch(queue, messages, tenant_id=tenant_id, delay_seconds=delay_seconds, settings=settings)
        except queues.PublishError as error:
            logger.warning("queueing failed; those records come back", extra={"failed": len(error.failed)})
            failed += [group[int(index)].message_id for index in error.failed]
    return failed


class EventWorker:
    """Applies one SQS batch of queued WeCom events; `run` returns the partial batch failure answer.

    `remaining` is the invocation's time left (None outside Lambda: the function's timeout bounds the claims then).
    """

    def __init__(
        self,
        queue: resources.Queue,
        settings: Settings | None = None,
        clock: Callable[[], float] = time.time,
        remaining: Callable[[], float] | None = None,
    ) -> None:
        self.queue = queue
        self.settings = settings or get_settings()
        self.clock = clock
        self.remaining = remaining
        self.slowest = 0.0

    def run(self, records: list[dict[str, Any]]) -> dict[str, list[dict[str, str]]]:
        failures: list[str] = []
        jobs: list[Job] = []
        for record in records:
            job = decode_or_log(record, self.queue, self.settings)
            if job is None:
                failures.append(record.get("messageId", ""))
            else:
                jobs.append(job)
        busy: list[Job] = []
        for index, job in enumerate(jobs):
            if index and not self._time_for_one_more():
                deferred = jobs[index:]
                failures += publish_jobs(self.queue, deferred, lambda j: j.message, self.settings)
                logger.info("events queued again for want of time", extra={"deferred": len(deferred)})
                break
            state = self._claim(job)
            if state is ClaimState.CLAIMED:
                self._apply(job)
            elif state is ClaimState.BUSY:
                busy.append(job)
            if job.failed:
                failures.append(job.message_id)
        failures += publish_jobs(self.queue, busy, lambda j: j.message, self.settings, BUSY_RECHECK_SECONDS)
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}

    def _time_for_one_more(self) -> bool:
        """Whether the time left covers one more event: a WeCom call's timeout, or twice the slowest event so far."""
        if self.remaining is None:
            return True
        return self.remaining() > max(self.settings.wecom_timeout_seconds, 2 * self.slowest)

    def _claim(self, job: Job) -> ClaimState:
        """Claim the job's event for this invocation: CLAIMED (apply it), DONE (skip it) or BUSY (look again later)."""
        bind_context(tenant_id=job.tenant_id, correlation_id=job.correlation_id)
        lease = float(self.queue.visibility_timeout) if self.remaining is None else max(self.remaining(), 0.0)
        state = job.ctx.event_log.claim(job.event.dedupe_key, job.owner, self.clock(), lease)
        if state is ClaimState.DONE:
            logger.info("duplicate event skipped", extra={"kind": job.event.kind})
        elif state is ClaimState.BUSY:
            logger.info("event being applied by another worker; looked at again soon", extra={"kind": job.event.kind})
        return state

    def _apply(self, job: Job) -> None:
        bind_context(tenant_id=job.tenant_id, correlation_id=job.correlation_id)
        started = time.perf_counter()
        try:
            apply_event(job.ctx, job.event)
        except NotApplied as reason:
            self._record(job, "not_applied", str(reason))
        except AppNotConfigured:
            self._record(job, "no_credentials", "the tenant has no app credentials")
        except RETRYABLE as error:
            self._fail(job, error)
            return
        except WeComError as error:
            self._record(job, "wecom_error", str(error))
        except Exception as error:
            self._fail(job, error)
            return
        job.ctx.event_log.done(job.event.dedupe_key, job.owner, self.clock())
        took = time.perf_counter() - started
        self.slowest = max(self.slowest, took)
        logger.info("event applied", extra={"kind": job.event.kind, "duration_ms": round(took * 1000, 1)})

    def _record(self, job: Job, reason: str, detail: str) -> None:
        job.ctx.event_log.record(job.event.dedupe_key, job.event.kind, reason, job.message, self.clock(), detail)
        logger.warning(
            "event recorded, not applied", extra={"kind": job.event.kind, "reason": reason, "detail": detail}
        )

    def _fail(self, job: Job, error: Exception) -> None:
        job.failed = True
        final = job.receive_count >= self.queue.max_receive_count
        log = logger.exception if not isinstance(error, RETRYABLE) else logger.warning
        log(
            "event failed; it comes back" if not final else "event failed for the last time; it goes to the DLQ",
            extra={
                "kind": job.event.kind,
                "reason": f"{type(error).__name__}: {error}",
                "receive_count": job.receive_count,
            },
        )
        try:
            job.ctx.event_log.release(job.event.dedupe_key, job.owner)
        except Exception:
            logger.exception("claim release failed; its lease expires instead")


class RealtimeWorker:
    """The new-friend path: sends the welcome messages of a batch in parallel, then hands every event on to the
    `events` queue (with what became of its welcome) for the rest of the work. No claim is needed here: WeCom uses a
    WelcomeCode once (a second send answers 41051, already delivered), and the events worker dedupes what follows.
    Its WeCom calls time out after the welcome budget's CALL_TIMEOUT_SECONDS, not the bulk workers' timeout."""

    def __init__(
        self,
        queue: resources.Queue = resources.EVENTS_REALTIME,
        settings: Settings | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.queue = queue
        base = settings or get_settings()
        timeout = min(base.wecom_timeout_seconds, welcome_budget.CALL_TIMEOUT_SECONDS)
        self.settings = replace(base, wecom_timeout_seconds=timeout)
        self.clock = clock

    def run(self, records: list[dict[str, Any]]) -> dict[str, list[dict[str, str]]]:
        failures: list[str] = []
        jobs: list[Job] = []
        for record in records:
            job = decode_or_log(record, self.queue, self.settings)
            if job is None:
                failures.append(record.get("messageId", ""))
            else:
                jobs.append(job)
        self._send_welcomes([j for j in jobs if j.wants_welcome])
        failures += self._forward([j for j in jobs if not j.failed])
        failures += [j.message_id for j in jobs if j.failed]
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}

    def _forward(self, jobs: list[Job]) -> list[str]:
        """Queue the events for the events worker; the message ids that could not be queued."""

        def with_welcome(job: Job) -> dict[str, Any]:
            outcome = job.welcome.outcome if job.welcome else None
            return {**job.message, "welcome": outcome.value if outcome else "none"}

        return publish_jobs(resources.EVENTS, jobs, with_welcome, self.settings)

    def _send_welcomes(self, jobs: list[Job]) -> None:
        if not jobs:
            return

        def send(job: Job) -> None:
            bind_context(tenant_id=job.tenant_id, correlation_id=job.correlation_id)
            try:
                assert isinstance(job.event, ExternalContactEvent)
                job.welcome = send_welcome(job.ctx, job.event, clock=self.clock)
            except Exception as error:
                self._fail(job, error)
                return
            outcome = job.welcome.outcome
            if outcome in (WelcomeOutcome.EXPIRED, WelcomeOutcome.FAILED):
                self._record(job, f"welcome_{outcome.value}", job.welcome.detail)
            logger.info(
                "welcome",
                extra={
                    "outcome": outcome.value if outcome else "none",
                    "age_s": round(self.clock() - job.event.create_time, 3),
                },
            )

        if len(jobs) == 1:
            send(jobs[0])
            return
        with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="welcome") as pool:
            list(pool.map(send, jobs))

    def _record(self, job: Job, reason: str, detail: str) -> None:
        job.ctx.event_log.record(job.event.dedupe_key, job.event.kind, reason, job.message, self.clock(), detail)
        logger.warning("welcome recorded", extra={"kind": job.event.kind, "reason": reason, "detail": detail})

    def _fail(self, job: Job, error: Exception) -> None:
        job.failed = True
        logger.exception("welcome path failed; the record comes back", extra={"reason": f"{type(error).__name__}"})


def handle_events(
    event: dict[str, Any], queue: resources.Queue, remaining: Callable[[], float] | None = None
) -> dict[str, list[dict[str, str]]]:
    """The SQS handler body for `queue` (events_realtime or events), on Lambda's raw event."""
    worker = RealtimeWorker(queue) if queue is resources.EVENTS_REALTIME else EventWorker(queue, remaining=remaining)
    return worker.run(event.get("Records", []))


def handle_transfer_schedule() -> int:
    """The schedule handler body: check the transfers that are due."""
    return poll_due_transfers()
