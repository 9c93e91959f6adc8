"""Event processing records of one tenant (runtime table): dedupe claims and events kept for a person to look at.

| item | pk | sk |
|---|---|---|
| dedupe claim | `<t>#evt#<sha256(dedupe_key)[:32]>` | `claim` |
| recorded event | `<t>#evtlog` | `<at:010d>#<sha256(dedupe_key)[:16]>` |

A worker claims an event before applying it (a conditional put: absent, expired, or an abandoned claim whose lease
ran out), marks the claim done afterwards (kept `DONE_TTL_SECONDS`, as long as SQS may still redeliver), and
releases it when it failed in a way worth retrying. So a redelivered or re-sent event has one effect, and a crashed
worker's event is taken up again once its lease ends. `expires_at` is the table's TTL attribute; the code compares it
itself because TTL deletion is late (and never happens on moto).

Recorded events are the ones not applied: unknown kinds, transfer_fail, permanent WeCom errors, expired welcome codes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, PutError, UpdateError
from pynamodb.models import Model

from chalicelib import resources
from chalicelib.config import Settings
from chalicelib.store.dynamo import is_condition_failure
from chalicelib.store.keys import TenantKeys
from chalicelib.store.tables import bind_models, on_table

CLAIM_SK = "claim"
DONE_TTL_SECONDS = 4 * 24 * 3600
RECORD_TTL_SECONDS = 30 * 24 * 3600


class ClaimState(StrEnum):
    CLAIMED = "claimed"
    DONE = "done"
    BUSY = "busy"


@on_table(resources.RUNTIME)
class ClaimItem(Model):
    class Meta:
        table_name = resources.RUNTIME.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    status = UnicodeAttribute()
    owner = UnicodeAttribute()
    lease_until = NumberAttribute()
    expires_at = NumberAttribute()


@on_table(resources.RUNTIME)
class RecordedEventItem(Model):
    class Meta:
        table_name = resources.RUNTIME.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute()
    reason = UnicodeAttribute()
    detail = UnicodeAttribute(null=True)
    event = UnicodeAttribute()
    recorded_at = NumberAttribute()
    expires_at = NumberAttribute()


@dataclass(frozen=True)
class RecordedEvent:
    kind: str
    reason: str
    detail: str
    event: dict[str, Any]
    recorded_at: int


def _digest(dedupe_key: str, length: int) -> str:
    return hashlib.sha256(dedupe_key.encode()).hexdigest()[:length]


class EventLog:
    """Claims and records of one tenant's events."""

    def __init__(self, tenant_id: str, settings: Settings | None = None) -> None:
        self.keys = TenantKeys(tenant_id)
        bind_models(settings)

    def _claim_pk(self, dedupe_key: str) -> str:
        return self.keys.key("evt", _digest(dedupe_key, 32))

    def claim(self, dedupe_key: str, owner: str, now: float, lease_seconds: float) -> ClaimState:
        """CLAIMED when this worker may apply the event now; DONE when it was applied already; BUSY when another
        worker holds a live claim (look again once that worker is likely done)."""
        item = ClaimItem(
            self._claim_pk(dedupe_key),
            CLAIM_SK,
            status=ClaimState.CLAIMED.value,
            owner=owner,
            lease_until=now + lease_seconds,
            expires_at=now + lease_seconds,
        )
        free = (
            ClaimItem.pk.does_not_exist()
            | (ClaimItem.expires_at < now)
            | ((ClaimItem.status == ClaimState.CLAIMED.value) & (ClaimItem.lease_until < now))
        )
        try:
            item.save(condition=free)
        except PutError as error:
            if not is_condition_failure(error):
                raise
            current = ClaimItem.get(self._claim_pk(dedupe_key), CLAIM_SK, consistent_read=True)
            return ClaimState.DONE if current.status == ClaimState.DONE.value else ClaimState.BUSY
        return ClaimState.CLAIMED

    def done(self, dedupe_key: str, owner: str, now: float) -> None:
        """Mark a claimed event applied; kept DONE_TTL_SECONDS so redeliveries are recognised."""
        try:
            ClaimItem(self._claim_pk(dedupe_key), CLAIM_SK).update(
                actions=[ClaimItem.status.set(ClaimState.DONE.value), ClaimItem.expires_at.set(now + DONE_TTL_SECONDS)],
                condition=ClaimItem.owner == owner,
            )
        except UpdateError as error:
            if not is_condition_failure(error):
                raise

    def release(self, dedupe_key: str, owner: str) -> None:
        """Give a claim back so that the event's retry can apply it (no-op when another worker took it over)."""
        try:
            ClaimItem(self._claim_pk(dedupe_key), CLAIM_SK).delete(
                condition=(ClaimItem.owner == owner) & (ClaimItem.status == ClaimState.CLAIMED.value)
            )
        except DeleteError as error:
            if not is_condition_failure(error):
                raise

    def record(
        self, dedupe_key: str, kind: str, reason: str, event: dict[str, Any], now: float, detail: str = ""
    ) -> None:
        """Keep an event that was not applied, with why; idempotent for the same event, second and reason."""
        at = int(now)
        RecordedEventItem(
            self.keys.key("evtlog"),
            f"{at:010d}#{_digest(dedupe_key + '|' + reason, 16)}",
            kind=kind,
            reason=reason,
            detail=detail[:1000] or None,
            event=json.dumps(event, ensure_ascii=False, separators=(",", ":")),
            recorded_at=at,
            expires_at=at + RECORD_TTL_SECONDS,
        ).save()

    def recorded(self, limit: int = 100) -> list[RecordedEvent]:
        """The most recently recorded events, newest first."""
        items = RecordedEventItem.query(self.keys.key("evtlog"), scan_index_forward=False, limit=limit)
        return [RecordedEvent(i.kind, i.reason, i.detail or "", json.loads(i.event), int(i.recorded_at)) for i in items]
