"""The `dispatch` queue's worker: send each batch to WeCom's add_msg_template exactly once.

A `batch` message names one batch. The batch's state (`domain.dispatch_state`) decides what to do:

- pending: take a permit from the shared limits (`store.rate_limits`: IP and corp token buckets, a slot in flight),
  claim the batch with a lease (conditional write), call add_msg_template (`retry_safe=False`), record the outcome:
  sent with msgid and fail_list; unknown on `OutcomeUnknown`; released (pending again) on 45009/45033/-1/transport
  errors that provably created nothing, with a delayed retry; failed, with its reason, on an error that cannot
  succeed or after `domain.dispatch_policy.MAX_ATTEMPTS` tries (logged at ERROR with a metric: the alert);
- claimed by a live lease: ask again when the lease ends; claimed by an expired lease: the holder died, so the
  outcome is unknown;
- unknown: reconcile against WeCom before any resend (below); found → sent, absent → pending and sent now;
- sent, failed, cancelled: nothing to do (a duplicate message).

Waiting is never done by sleeping: the handler re-publishes the message with `DelaySeconds` and acknowledges it.

Recognising our batch in WeCom's records (reconcile): `get_groupmsg_list_v2` with `creator` = the batch's sender,
`filter_type` 0 (corp-created), the chat type, and `RECONCILE_WINDOW_SECONDS` around the claim time; a candidate must
have the broadcast's text, must not be a msgid another batch of this broadcast already holds, and its recipients
(`get_groupmsg_send_result` for the sender) must be a non-empty subset of the batch's recipients. A sender's batches
of one broadcast have disjoint recipients, so at most one candidate fits. WeCom lists only the recipients it
accepted, so the batch's other recipients are recorded as refused (its fail_list). Reconciling waits until the
claim is older than the client timeout plus `SETTLE_SECONDS`, so a request still in flight cannot be missed; 41063
("still dispatching") means ask again later.

Longer than most modules for a reason: the dispatcher is one state machine, and its sends, releases and reconcile
stay together so each transition reads next to the conditional write that applies it.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from chalicelib.config import Settings, get_settings
from chalicelib.domain import dispatch_policy as policy
from chalicelib.domain import dispatch_state as ds
from chalicelib.domain.audience import Receipt
from chalicelib.domain.broadcasts import Batch, Broadcast, CustomerResult, Status
from chalicelib.domain.token_bucket import Throttled
from chalicelib.domain.wecom_limits import (
    BLOCK_SECONDS_AFTER_MINUTE_LIMIT,
    GROUPMSG_LIST_MAX_LIMIT,
    GROUPMSG_SEND_RESULT_MAX_LIMIT,
)
from chalicelib.observability import BATCH_FAILED_METRIC, alert, logger
from chalicelib.services.tenant_wecom import tenant_wecom
from chalicelib.services.tracked_links import per_sender
from chalicelib.store.broadcast_timers import FOLLOW
from chalicelib.store.broadcasts import BroadcastStore
from chalicelib.store.customers import CustomerStore
from chalicelib.store.dynamo import Conflict
from chalicelib.store.rate_limits import RateLimiter
from chalicelib.wecom import errors
from chalicelib.wecom.paging import cursor_pages

ADD_MSG_TEMPLATE = "externalcontact/add_msg_template"
LIST_V2 = "externalcontact/get_groupmsg_list_v2"
SEND_RESULT = "externalcontact/get_groupmsg_send_result"
MASS_DISPATCHING = 41063

LEASE_SECONDS = 60.0
SETTLE_SECONDS = 10.0
RECONCILE_WINDOW_SECONDS = 300
BOOK_WITHIN_SECONDS = 600.0
"""How far ahead a batch waiting for add_msg_template's limits books its turn: within SQS's longest delay (900 s), so
a batch holding a turn is one delayed message away from its call."""
RECORD_OVERHEAD_SECONDS = 5.0
FIRST_FOLLOW_DELAY_SECONDS = 60

Checkpoint = Callable[[str], None]
"""Called at `claimed` (before the WeCom call) and `called` (before recording): fault injection in tests and benches."""


@dataclass(frozen=True)
class Outcome:
    """What to do with the message: acknowledge it, or send it again after `delay` seconds."""

    result: str
    delay: int = 0
    cursor: str = ""
    turn_at: float = 0.0
    """A turn booked with the rate limits: the re-published message carries it and asks again then, ahead of others."""

    @property
    def retry(self) -> bool:
        return self.delay > 0


def limited_post(client: Any, limiter: RateLimiter, api: str, body: dict[str, Any], *, retry_safe: bool) -> dict:
    """One WeCom call inside the shared limits (raises `Throttled` instead of calling when they say wait)."""
    permit = limiter.acquire(client.corp_id, api)
    if not permit.granted:
        raise Throttled(permit.wait_seconds, permit.reason)
    try:
        return client.post(api, body, retry_safe=retry_safe)
    finally:
        limiter.release(permit)


def _no_fault(_: str) -> None:
    return None


def send_records(
    call: Callable[[dict[str, Any]], dict[str, Any]], msgid: str, sender: str, chat_type: str
) -> list[tuple[str, int, int]]:
    """WeCom's records of one sender's part of a mass message, every page: (recipient, status, send_time); read by
    the dispatcher's reconcile and by the results follower."""
    key = "chat_id" if chat_type == "group" else "external_userid"
    request = {"msgid": msgid, "userid": sender, "limit": GROUPMSG_SEND_RESULT_MAX_LIMIT}
    return [
        (str(r[key]), int(r.get("status", 0)), int(r.get("send_time") or 0))
        for page in cursor_pages(call, request)
        for r in page.get("send_list") or ()
        if r.get(key)
    ]


def batch_message(tenant_id: str, broadcast_id: str, batch_id: str) -> dict[str, Any]:
    return {"type": "batch", "v": 1, "tenant_id": tenant_id, "broadcast_id": broadcast_id, "batch_id": batch_id}


class Dispatcher:
    """Advances the batches of one tenant; `client` and `limiter` are injectable for tests."""

    def __init__(
        self,
        tenant_id: str,
        settings: Settings | None = None,
        *,
        client: Any = None,
        limiter: RateLimiter | None = None,
        clock: Callable[[], float] = time.time,
        lease_seconds: float = LEASE_SECONDS,
        checkpoint: Checkpoint = _no_fault,
    ) -> None:
        self.tenant_id = tenant_id
        self.settings = settings or get_settings()
        self.store = BroadcastStore(tenant_id, self.settings)
        self._client = client
        self.limiter = limiter or RateLimiter(self.settings)
        self.clock = clock
        self.lease_seconds = lease_seconds
        self.checkpoint = checkpoint
        self.worker = secrets.token_hex(6)

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = tenant_wecom(self.tenant_id, self.settings)
        return self._client

    # ---- entry ----

    def handle(self, broadcast_id: str, batch_id: str, turn_at: float = 0.0) -> Outcome:
        """Advance one batch; `turn_at` is the rate-limit turn this message holds (0: none)."""
        broadcast = self.store.get(broadcast_id)
        batch = self.store.get_batch(broadcast_id, batch_id)
        if broadcast is None or batch is None:
            return Outcome("missing")
        status = batch.state.status
        if status in ds.FINAL:
            return Outcome(status.value)
        now = self.clock()
        if status is ds.BatchStatus.PENDING and broadcast.status == Status.CANCELLED:
            return self._cancel(batch)
        if status is ds.BatchStatus.CLAIMED:
            if now < batch.state.lease_until:
                return Outcome("leased", policy.queue_delay(batch.state.lease_until - now + 1))
            try:
                batch = self.store.transition(batch, ds.expire_lease(batch.state, now))
            except Conflict:
                return self._moved()
            logger.warning("batch lease expired: reconciling", extra={"batch_id": batch_id})
        try:
            if batch.state.status is ds.BatchStatus.UNKNOWN:
                return self._reconcile(broadcast, batch, turn_at)
            return self._send(broadcast, batch, turn_at)
        except Throttled as throttled:
            return Outcome(f"throttled:{throttled}", policy.queue_delay(throttled.wait))

    def _moved(self) -> Outcome:
        """Another worker changed the batch first. Look again once its lease would have run out rather than drop the
        message: if that worker dies without a message of its own to bring the batch back (a duplicate delivery whose
        twin was acknowledged, say), this message is the only thing left that will finish the batch."""
        return Outcome("moved", policy.queue_delay(self.lease_seconds + 1))

    # ---- calls through the shared limits ----

    def _call(self, api: str, body: dict[str, Any], *, retry_safe: bool) -> dict[str, Any]:
        return limited_post(self.client, self.limiter, api, body, retry_safe=retry_safe)

    # ---- sending ----

    def _send(self, broadcast: Broadcast, batch: Batch, turn_at: float = 0.0) -> Outcome:
        permit = self.limiter.acquire(
            self.client.corp_id, ADD_MSG_TEMPLATE, book_within=BOOK_WITHIN_SECONDS, turn_at=turn_at
        )
        if not permit.granted:
            return Outcome(
                f"throttled:{permit.reason}", policy.queue_delay(permit.wait_seconds), turn_at=permit.turn_at
            )
        try:
            broadcast = self._fresh_attachments(broadcast)
            now = self.clock()
            try:
                batch = self.store.transition(
                    batch, ds.claim(batch.state, self.worker, now, self.lease_seconds), attempt_at=now
                )
            except Conflict:
                return self._moved()
            self.checkpoint("claimed")
            recipients = self.store.recipients(broadcast.broadcast_id, batch)
            try:
                answer = self.client.post(ADD_MSG_TEMPLATE, self._body(broadcast, batch, recipients), retry_safe=False)
            except errors.OutcomeUnknown as unknown:
                self._move(batch, ds.mark_unknown(batch.state, self.worker, unknown.reason))
                return Outcome("unknown", policy.queue_delay(self.settings.wecom_timeout_seconds + SETTLE_SECONDS))
            except (errors.RateLimited, errors.ConcurrencyLimited) as error:
                return self._retry_or_fail(broadcast, batch, error, recipients)
            except (
                errors.SystemBusy,
                errors.WeComUnavailable,
                errors.TokenInvalid,
                errors.CredentialsInvalid,
            ) as error:
                return self._retry_or_fail(broadcast, batch, error, recipients)
            except errors.WeComError as error:
                return self._fail(broadcast, batch, f"errcode {error.errcode}: {error.errmsg}", recipients)
        finally:
            self.limiter.release(permit)
        self.checkpoint("called")
        fail_list = tuple(str(r) for r in answer.get("fail_list") or ())
        msgid = str(answer["msgid"])
        return self._record_sent(
            broadcast, batch, ds.mark_sent(batch.state, self.worker, msgid, fail_list), msgid, fail_list
        )

    def _fresh_attachments(self, broadcast: Broadcast) -> Broadcast:
        """Material references resolved again before the claim (a 3-day media id renewed when due); if the library
        cannot serve them any more, the attachments resolved at creation are sent and WeCom judges them."""
        refs = broadcast.content.get("attachment_refs")
        if not refs:
            return broadcast
        from chalicelib.services.materials import MaterialUnavailable, resolve_attachments
        from chalicelib.store.materials import MaterialNotFound

        try:
            attachments = resolve_attachments(self.tenant_id, refs)
        except (MaterialNotFound, MaterialUnavailable, errors.WeComError, errors.WeComUnavailable) as err:
            logger.warning("attachments sent as resolved at creation", extra={"reason": str(err)})
            return broadcast
        return replace(broadcast, content={**broadcast.content, "attachments": attachments})

    def _body(self, broadcast: Broadcast, batch: Batch, recipients: list[str]) -> dict[str, Any]:
        body: dict[str, Any] = {"chat_type": broadcast.chat_type, "sender": batch.sender}
        if broadcast.content.get("text"):
            body["text"] = {"content": broadcast.content["text"]}
        if broadcast.content.get("attachments"):
            body["attachments"] = per_sender(
                self.tenant_id, broadcast.content["attachments"], batch.sender, broadcast.broadcast_id
            )
        if broadcast.allow_select:
            body["allow_select"] = True
        if broadcast.chat_type == "group":
            if recipients:
                body["chat_id_list"] = recipients
        else:
            body["external_userid"] = recipients
        return body

    def _move(self, batch: Batch, new: ds.BatchState) -> Batch | None:
        try:
            return self.store.transition(batch, new)
        except Conflict:
            logger.warning("batch moved under its holder", extra={"batch_id": batch.batch_id})
            return None

    def _retry_or_fail(self, broadcast: Broadcast, batch: Batch, error: Exception, recipients: list[str]) -> Outcome:
        """Release the claim to try again later, or fail the batch once this kind of error has used up its tries:
        WeCom's limits (45009/45033) and the batch's own errors are counted apart, so a batch that waited its turn
        through many throttled minutes still has all its tries for a -1."""
        reason = str(error)
        if isinstance(error, errors.RateLimited):
            failure = policy.Failure.RATE_LIMITED
        elif isinstance(error, errors.ConcurrencyLimited):
            failure = policy.Failure.CONCURRENCY_LIMITED
        else:
            failure = policy.Failure.OTHER
        retry = policy.after_failure(batch.state, failure, random.random())
        if retry.give_up:
            return self._fail(broadcast, batch, f"gave up after {retry.tries} attempts: {reason}", recipients)
        self._move(batch, ds.release(batch.state, self.worker, reason, throttled=failure.throttled))
        return Outcome(f"retry:{type(error).__name__}", retry.delay)

    def _fail(self, broadcast: Broadcast, batch: Batch, reason: str, recipients: list[str]) -> Outcome:
        self._refused(broadcast, batch, recipients, "failed", reason, "")
        if self._move(batch, ds.mark_failed(batch.state, self.worker, reason)) is None:
            return self._moved()
        alert(
            "broadcast batch failed",
            BATCH_FAILED_METRIC,
            broadcast_id=broadcast.broadcast_id,
            batch_id=batch.batch_id,
            sender=batch.sender,
            size=batch.size,
            reason=reason,
        )
        settle_dispatch(self.store, broadcast.broadcast_id)
        return Outcome("failed")

    def _refused(
        self, broadcast: Broadcast, batch: Batch, recipients: Iterable[str], status: str, reason: str, msgid: str
    ) -> None:
        """Record recipients WeCom will not deliver to, and take back their receipts (they do not count)."""
        refused = list(recipients)
        if not refused:
            return
        self.store.put_customer_results(
            broadcast.broadcast_id, [CustomerResult(r, batch.sender, status, msgid, 0, reason) for r in refused]
        )
        if broadcast.chat_type == "single":
            customers = CustomerStore(self.tenant_id, self.settings)
            receipt = Receipt(broadcast.broadcast_id, datetime.fromtimestamp(broadcast.send_at, UTC))
            for ext in refused:
                customers.forget_receipts(ext, [receipt])

    def _record_sent(
        self, broadcast: Broadcast, batch: Batch, new: ds.BatchState, msgid: str, fail_list: tuple[str, ...]
    ) -> Outcome:
        """Idempotent bookkeeping first (the sender's msgid, refused recipients), then the final transition: a crash
        in between leaves the batch claimed or unknown, and reconciling finds the msgid and repeats the bookkeeping."""
        self.store.add_employee_msgid(broadcast.broadcast_id, batch.sender, msgid)
        self._refused(broadcast, batch, fail_list, "rejected", "in add_msg_template fail_list", msgid)
        if self._move(batch, new) is None:
            return self._moved()
        settle_dispatch(self.store, broadcast.broadcast_id)
        return Outcome("sent")

    def _cancel(self, batch: Batch) -> Outcome:
        self._move(batch, ds.cancel(batch.state))
        return Outcome("cancelled")

    # ---- reconciling ----

    def _reconcile(self, broadcast: Broadcast, batch: Batch, turn_at: float = 0.0) -> Outcome:
        now = self.clock()
        ready_at = batch.attempt_at + self.settings.wecom_timeout_seconds + SETTLE_SECONDS
        if now < ready_at:
            return Outcome("settling", policy.queue_delay(ready_at - now))
        recipients = self.store.recipients(broadcast.broadcast_id, batch)
        try:
            found = self._find(broadcast, batch, recipients)
        except errors.WeComError as error:
            if error.errcode == MASS_DISPATCHING:
                return Outcome("reconcile:dispatching", 5)
            if isinstance(error, errors.RateLimited):
                return Outcome("reconcile:throttled", BLOCK_SECONDS_AFTER_MINUTE_LIMIT)
            return Outcome(f"reconcile:errcode {error.errcode}", policy.queue_delay(30))
        except errors.WeComUnavailable:
            return Outcome("reconcile:unavailable", 15)
        if found is None:
            logger.info("reconcile: batch not at WeCom, sending again", extra={"batch_id": batch.batch_id})
            try:
                batch = self.store.transition(batch, ds.reconcile(batch.state, None))
            except Conflict:
                return self._moved()
            return self._send(broadcast, batch, turn_at)
        msgid, accepted = found
        logger.info("reconcile: batch found at WeCom", extra={"batch_id": batch.batch_id, "msgid": msgid})
        fail_list = tuple(r for r in recipients if r not in accepted)
        return self._record_sent(
            broadcast, batch, replace(ds.reconcile(batch.state, msgid), fail_list=fail_list), msgid, fail_list
        )

    def _find(self, broadcast: Broadcast, batch: Batch, recipients: list[str]) -> tuple[str, set[str]] | None:
        """The msgid and accepted recipients of our batch in WeCom's list, or None if WeCom has no such message."""
        taken = {b.state.msgid for b in self.store.batches(broadcast.broadcast_id).items if b.state.msgid}
        wanted = set(recipients)
        text = broadcast.content.get("text") or ""
        start = int(batch.attempt_at) - RECONCILE_WINDOW_SECONDS
        request = {
            "chat_type": broadcast.chat_type,
            "start_time": start,
            "end_time": int(batch.attempt_at) + RECONCILE_WINDOW_SECONDS,
            "creator": batch.sender,
            "filter_type": 0,
            "limit": GROUPMSG_LIST_MAX_LIMIT,
        }
        for page in cursor_pages(lambda body: self._call(LIST_V2, body, retry_safe=True), request):
            for message in page.get("group_msg_list") or ():
                msgid = policy.candidate_msgid(message, text, taken)
                if msgid is None:
                    continue
                accepted = {
                    recipient
                    for recipient, _, _ in send_records(
                        lambda body: self._call(SEND_RESULT, body, retry_safe=True),
                        msgid,
                        batch.sender,
                        broadcast.chat_type,
                    )
                }
                if policy.is_the_batch(accepted, wanted):
                    return msgid, accepted
        return None


def settle_dispatch(store: BroadcastStore, broadcast_id: str, now: float | None = None) -> bool:
    """Once every batch of a dispatching broadcast is final, set its batch counts from the batches themselves (so a
    worker that died between steps loses no count), move it to `following` and arm its results timer."""
    broadcast = store.get(broadcast_id)
    if broadcast is None or broadcast.status != Status.DISPATCHING:
        return False
    batches = store.batches(broadcast_id).items
    if len(batches) < broadcast.counts.get("batches", 0) or any(b.state.status not in ds.FINAL for b in batches):
        return False
    sent = [b for b in batches if b.state.status is ds.BatchStatus.SENT]
    counts = {
        "batches_sent": len(sent),
        "batches_failed": sum(1 for b in batches if b.state.status is ds.BatchStatus.FAILED),
        "rejected": sum(len(b.state.fail_list) for b in sent),
    }
    try:
        store.set_status(broadcast_id, Status.FOLLOWING, expect=[Status.DISPATCHING], counts=counts)
    except Conflict:
        return False
    now = time.time() if now is None else now
    store.set_follow_until(broadcast_id, int(now + store.get_policy().follow_hours * 3600))
    store.set_timer(broadcast_id, FOLLOW, now + FIRST_FOLLOW_DELAY_SECONDS)
    logger.info("broadcast dispatched", extra={"broadcast_id": broadcast_id, **counts})
    return True
