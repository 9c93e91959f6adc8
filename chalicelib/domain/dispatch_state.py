"""The life of one dispatch batch, as pure transitions; the store applies each one as a conditional write.

    pending ──claim──▶ claimed ──sent──▶ sent (msgid)
       ▲                 │ ├──unknown──▶ unknown ──reconcile(found msgid)──▶ sent
       │                 │ │                    └──reconcile(not found)───▶ pending
       └────release──────┘ └──failed───▶ failed (reason)
    pending ──cancel──▶ cancelled

add_msg_template has no idempotency key, so any claim whose outcome is not known (a timeout after the request left,
or a lease that expired because the worker died) becomes `unknown`, and only reconciling it against WeCom's list of
mass messages can send it again. `release` is for a claim that provably never called WeCom (no rate token, retryable
error before the request). Every transition bumps `version`; the store's condition is "version is still what I read".
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


class BatchStatus(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    SENT = "sent"
    UNKNOWN = "unknown"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL = frozenset({BatchStatus.SENT, BatchStatus.FAILED, BatchStatus.CANCELLED})


class InvalidTransition(RuntimeError):
    """The batch is not in a state that allows this step (someone else moved it, or it is final)."""


@dataclass(frozen=True)
class BatchState:
    status: BatchStatus = BatchStatus.PENDING
    version: int = 0
    attempts: int = 0
    throttled: int = 0
    """Of the attempts, those WeCom turned away for its rate or concurrency limits (nothing wrong with the batch)."""
    claimed_by: str = ""
    lease_until: float = 0.0
    msgid: str = ""
    reason: str = ""
    fail_list: tuple[str, ...] = ()

    def _to(self, status: BatchStatus, **changes: object) -> BatchState:
        return replace(self, status=status, version=self.version + 1, **changes)

    def _require(self, action: str, *allowed: BatchStatus) -> None:
        if self.status not in allowed:
            raise InvalidTransition(f"cannot {action} a batch that is {self.status}")


def claim(state: BatchState, worker: str, now: float, lease_seconds: float) -> BatchState:
    """Take a pending batch for `lease_seconds`; only its holder may record the outcome."""
    state._require("claim", BatchStatus.PENDING)
    return state._to(
        BatchStatus.CLAIMED, claimed_by=worker, lease_until=now + lease_seconds, attempts=state.attempts + 1
    )


def _require_holder(state: BatchState, worker: str, action: str) -> None:
    state._require(action, BatchStatus.CLAIMED)
    if state.claimed_by != worker:
        raise InvalidTransition(f"cannot {action}: claimed by another worker")


def mark_sent(state: BatchState, worker: str, msgid: str, fail_list: tuple[str, ...] = ()) -> BatchState:
    """WeCom answered with a msgid: the task exists; `fail_list` holds the recipients WeCom refused."""
    _require_holder(state, worker, "mark sent")
    if not msgid:
        raise ValueError("a sent batch needs its msgid")
    return state._to(BatchStatus.SENT, msgid=msgid, fail_list=fail_list, lease_until=0.0)


def mark_unknown(state: BatchState, worker: str, reason: str) -> BatchState:
    """The request may have reached WeCom but no answer came: must reconcile before any resend."""
    _require_holder(state, worker, "mark unknown")
    return state._to(BatchStatus.UNKNOWN, reason=reason, lease_until=0.0)


def mark_failed(state: BatchState, worker: str, reason: str) -> BatchState:
    """WeCom refused the batch for good (e.g. invalid media, no permission)."""
    _require_holder(state, worker, "mark failed")
    return state._to(BatchStatus.FAILED, reason=reason, lease_until=0.0)


def release(state: BatchState, worker: str, reason: str, throttled: bool = False) -> BatchState:
    """Give back a claim that never reached WeCom, so it can be claimed again later (`throttled`: WeCom's limits
    refused it)."""
    _require_holder(state, worker, "release")
    return state._to(
        BatchStatus.PENDING,
        claimed_by="",
        lease_until=0.0,
        reason=reason,
        throttled=state.throttled + int(throttled),
    )


def expire_lease(state: BatchState, now: float) -> BatchState:
    """A claim whose holder vanished: the request may have gone out, so its outcome is unknown."""
    state._require("expire", BatchStatus.CLAIMED)
    if now < state.lease_until:
        raise InvalidTransition("cannot expire a lease that is still running")
    return state._to(BatchStatus.UNKNOWN, reason="lease expired", lease_until=0.0)


def reconcile(state: BatchState, found_msgid: str | None) -> BatchState:
    """Settle an unknown batch from WeCom's mass-message list: found → sent, absent → pending again."""
    state._require("reconcile", BatchStatus.UNKNOWN)
    if found_msgid:
        return state._to(BatchStatus.SENT, msgid=found_msgid)
    return state._to(BatchStatus.PENDING, claimed_by="")


def cancel(state: BatchState, reason: str = "cancelled by admin") -> BatchState:
    """Stop a batch nobody is sending. A claimed or unknown one must settle first: it may already exist at WeCom,
    where a sent batch is stopped with cancel_groupmsg_send."""
    state._require("cancel", BatchStatus.PENDING)
    return state._to(BatchStatus.CANCELLED, reason=reason, lease_until=0.0)
