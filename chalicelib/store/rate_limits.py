"""Fleet-wide WeCom call limits in the runtime table: token buckets and caps on calls in flight.

WeCom counts calls per (corp, API) and per (calling IP, API) (WECOM.md §5.1), and answers 45033 to too many
concurrent calls of one API of one corp. Every Lambda asks here before calling:

| item (runtime table) | pk | sk |
|---|---|---|
| bucket per corp and API | `rl#corp#<corp_id>#<api>` | `bucket` |
| bucket per egress IP and API (all tenants) | `rl#ip#<egress_ip>#<api>` | `bucket` |
| calls in flight per corp and API | `rl#inflight#<corp_id>#<api>` | `slots` |

A bucket item holds `domain.token_bucket.BucketState` and a version; taking a token is a read and a put conditioned
on the version read (retried on conflict), so the whole fleet shares one bucket. In-flight slots are leases (slot id →
expiry): a worker that dies holding one loses it when the lease runs out, so no slot leaks for good.

The IP bucket is taken first, then the corp bucket, then a slot. When a later step is refused the earlier token is
not given back: the fleet then runs a little below the limit, never above it. Callers that can come back later
(dispatch, through a delayed SQS message) book turns instead of polling (`TokenBucket.take_or_book`): a backlog of
batches waiting for one corp's limit then costs about one bucket write and one delayed message per batch, not one of
each per batch every time a token comes back.

Limits default to WeCom's documented figures times a margin (`token_bucket.DEFAULT_MARGIN`);
`WECOM_LIMIT_CORP_PER_MINUTE`, `WECOM_LIMIT_IP_PER_MINUTE` (and `..._PER_HOUR`) and `WECOM_INFLIGHT_CAP` override them
(the local stack sets them to the simulator's limits).
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, PutError
from pynamodb.models import Model

from chalicelib import resources
from chalicelib.config import Settings
from chalicelib.domain import wecom_limits as limits
from chalicelib.domain.token_bucket import DEFAULT_MARGIN, BucketState, Take, TokenBucket
from chalicelib.store.dynamo import is_condition_failure
from chalicelib.store.tables import bind_models, on_table

DEFAULT_INFLIGHT_CAP = 5
"""Calls of one API of one corp in flight at once; WeCom documents no figure (community reports 5 to 10)."""
SLOT_LEASE_SECONDS = 30.0
MAX_CONFLICTS = 20


@on_table(resources.RUNTIME)
class BucketItem(Model):
    class Meta:
        table_name = resources.RUNTIME.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    tokens = NumberAttribute()
    at = NumberAttribute()
    booked_until = NumberAttribute(null=True)
    version = NumberAttribute()


@on_table(resources.RUNTIME)
class SlotsItem(Model):
    class Meta:
        table_name = resources.RUNTIME.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    holders = UnicodeAttribute()
    version = NumberAttribute()


@dataclass(frozen=True)
class Limits:
    """Per-API windows for a corp and for an egress IP, and the in-flight cap per corp and API."""

    corp: tuple[tuple[int, float], ...] = (
        (limits.CORP_API_CALLS_PER_MINUTE, 60.0),
        (limits.CORP_API_CALLS_PER_HOUR, 3600.0),
    )
    ip: tuple[tuple[int, float], ...] = (
        (limits.IP_API_CALLS_PER_MINUTE, 60.0),
        (limits.IP_API_CALLS_PER_HOUR, 3600.0),
    )
    inflight: int = DEFAULT_INFLIGHT_CAP
    margin: float = DEFAULT_MARGIN

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Limits:
        """WeCom's documented limits, unless the environment overrides them (read at call time)."""
        env = os.environ if environ is None else environ
        base = cls()

        def windows(prefix: str, default: tuple[tuple[int, float], ...]) -> tuple[tuple[int, float], ...]:
            minute = int(env.get(f"WECOM_LIMIT_{prefix}_PER_MINUTE") or default[0][0])
            hour = int(env.get(f"WECOM_LIMIT_{prefix}_PER_HOUR") or default[1][0])
            return ((minute, 60.0), (hour, 3600.0))

        return cls(
            windows("CORP", base.corp),
            windows("IP", base.ip),
            int(env.get("WECOM_INFLIGHT_CAP") or base.inflight),
            float(env.get("WECOM_LIMIT_MARGIN") or base.margin),
        )


@dataclass(frozen=True)
class Permit:
    """The answer to `RateLimiter.acquire`: granted with a slot to release; or not yet, with how long to wait, and
    `turn_at` set when that is a booked turn (ask again then, passing it)."""

    granted: bool
    wait_seconds: float = 0.0
    slot: str = ""
    reason: str = ""
    turn_at: float = 0.0


class RateLimiter:
    """Shared limits for WeCom calls; create one per unit of work (cheap)."""

    def __init__(
        self,
        settings: Settings | None = None,
        limits_: Limits | None = None,
        clock: object = time.time,
    ) -> None:
        self.settings = bind_models(settings)
        self.limits = limits_ or Limits.from_environ()
        self.corp_bucket = TokenBucket.within(self.limits.corp, self.limits.margin)
        self.ip_bucket = TokenBucket.within(self.limits.ip, self.limits.margin)
        self._clock = clock

    def now(self) -> float:
        return self._clock()  # type: ignore[operator]

    def acquire(self, corp_id: str, api: str, *, book_within: float = 0.0, turn_at: float = 0.0) -> Permit:
        """A token from the IP and corp buckets of `api` and a slot in flight; release the slot after the call.

        With `book_within`, a caller refused a token books a turn within that many seconds: the permit says when
        (`turn_at`), and the caller asks again then passing it, ahead of callers without a turn. Without it, a
        refusal only says how long to wait before asking again."""
        now = self.now()
        if turn_at > now:
            return Permit(False, turn_at - now, reason="booked", turn_at=turn_at)
        for pk, bucket, reason in (
            (f"rl#ip#{self.settings.egress_ip}#{api}", self.ip_bucket, "ip_bucket"),
            (f"rl#corp#{corp_id}#{api}", self.corp_bucket, "corp_bucket"),
        ):
            take = self._take(pk, bucket, book_within, holds_turn=bool(turn_at))
            if take.booked:
                return Permit(False, take.wait_seconds, reason="booked", turn_at=now + take.wait_seconds)
            if not take.granted:
                return Permit(False, take.wait_seconds, reason=reason)
        slot = self._occupy(f"rl#inflight#{corp_id}#{api}")
        if slot is None:
            return Permit(False, 0.5, reason="contention", turn_at=turn_at)
        if not slot:
            return Permit(False, 1.0, reason="in_flight", turn_at=turn_at)
        return Permit(True, slot=f"{corp_id}#{api}#{slot}")

    def take_corp_token(self, corp_id: str, limit_name: str, bucket: TokenBucket) -> Take:
        """One token from a per-corp bucket of a limit of its own (e.g. moments: 10 creates a minute, 100,000 tasks
        a month), shared by the fleet like the per-API buckets; a refusal says how long until one is there."""
        return self._take(f"rl#corp#{corp_id}#{limit_name}", bucket, 0.0, False)

    def release(self, permit: Permit) -> None:
        """Free the permit's in-flight slot (a lost release only costs the lease time)."""
        if not permit.granted:
            return
        corp_id, api, slot = permit.slot.rsplit("#", 2)
        pk = f"rl#inflight#{corp_id}#{api}"
        for _ in range(MAX_CONFLICTS):
            item = self._slots(pk)
            if item is None:
                return
            holders = json.loads(item.holders)
            if holders.pop(slot, None) is None:
                return
            if self._save_slots(pk, holders, int(item.version)):
                return

    def _take(self, pk: str, bucket: TokenBucket, book_within: float, holds_turn: bool) -> Take:
        """A token taken now, a turn booked (only with `book_within`), or a refusal with the wait."""
        for _ in range(MAX_CONFLICTS):
            now = self.now()
            try:
                item = BucketItem.get(pk, "bucket", consistent_read=True)
                state = BucketState(float(item.tokens), float(item.at), float(item.booked_until or 0))
                version = int(item.version)
            except DoesNotExist:
                state, version = bucket.full(now), 0
            if book_within:
                take = bucket.take_or_book(state, now, book_within, holds_turn)
            else:
                take = bucket.take(state, 1, now)
            if not take.granted and take.state.booked_until == state.booked_until:
                # Refused, or still waiting on a turn already booked: nothing to write.
                return replace(take, wait_seconds=max(take.wait_seconds, 0.001))
            new = BucketItem(
                pk,
                "bucket",
                tokens=take.state.tokens,
                at=take.state.at,
                booked_until=take.state.booked_until or None,
                version=version + 1,
            )
            condition = BucketItem.version == version if version else BucketItem.pk.does_not_exist()
            try:
                new.save(condition=condition)
                return take
            except PutError as error:
                if not is_condition_failure(error):
                    raise
        return Take(False, 0.2, bucket.full(self.now()))

    def _slots(self, pk: str) -> SlotsItem | None:
        try:
            return SlotsItem.get(pk, "slots", consistent_read=True)
        except DoesNotExist:
            return None

    def _save_slots(self, pk: str, holders: dict[str, float], version: int) -> bool:
        item = SlotsItem(pk, "slots", holders=json.dumps(holders), version=version + 1)
        condition = SlotsItem.version == version if version else SlotsItem.pk.does_not_exist()
        try:
            item.save(condition=condition)
            return True
        except PutError as error:
            if not is_condition_failure(error):
                raise
            return False

    def _occupy(self, pk: str) -> str | None:
        """A new slot id; "" when the cap is reached by live leases; None when other writers kept winning."""
        for _ in range(MAX_CONFLICTS):
            now = self.now()
            item = self._slots(pk)
            holders = {k: v for k, v in json.loads(item.holders).items() if v > now} if item else {}
            if len(holders) >= self.limits.inflight:
                return ""
            slot = secrets.token_hex(6)
            holders[slot] = now + SLOT_LEASE_SECONDS
            if self._save_slots(pk, holders, int(item.version) if item else 0):
                return slot
        return None
