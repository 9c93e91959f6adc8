"""One tenant's mass messages (客户群发): broadcasts, dispatch batches and their parts, per-employee and per-customer
results, the tenant's mass-message policy; plus the cross-tenant timer index that the schedule handler reads.

Item layout (data table unless stated; every tenant partition key starts with the tenant id through `TenantKeys`):

| item | pk | sk | index keys |
|---|---|---|---|
| broadcast | `<t>#bc#<id>` | `meta` | gsi1 `<t>#bcs` / `<created_ms:013d>#<id>` (newest first) |
| batch | `<t>#bc#<id>` | `batch#<batch_id>` | |
| batch part (recipients) | `<t>#bc#<id>` | `part#<batch_id>#<part:04d>` | |
| employee result | `<t>#bc#<id>` | `emp#<userid>` | |
| customer result | `<t>#bc#<id>` | `cust#<external_userid or chat_id>` | |
| mass-message policy | `<t>#bcpolicy` | `policy` | |
| timer (runtime table) | `due#<YYYYMMDDHHMM UTC>` | `<kind>#<tenant>#<id>` | |

A broadcast's batches, parts and results share its partition, so "batches of a broadcast" and "results of a
broadcast" are Queries on one key with a sort-key prefix. Batches follow `domain.dispatch_state`: every transition is
a conditional write on the version read. Counters on the broadcast item are atomic ADDs, so concurrent workers never
lose an update. Timers are the only keys without a tenant prefix: they live in the runtime table, one partition per
minute, so the schedule handler finds due work with one Query per minute bucket (never a Scan); each entry names its
tenant in the sort key.

Statuses: draft → scheduled (send_at in the future) → planning → dispatching → following → done; cancelled from any
state before done. The service functions the admin API calls (start, preview, cancel, remind) are in
`chalicelib.services.broadcasts`.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pynamodb.attributes import MapAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib import resources
from chalicelib.config import Settings
from chalicelib.domain.dispatch_state import BatchState, BatchStatus
from chalicelib.domain.frequency import AtMostPerDays, FrequencyPolicy, MinimumGap, WeComQuota
from chalicelib.store.keys import TenantKeys
from chalicelib.store.tables import bind_models, on_table

T = TypeVar("T")


class Status:
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    PLANNING = "planning"
    DISPATCHING = "dispatching"
    FOLLOWING = "following"
    DONE = "done"
    CANCELLED = "cancelled"


STATUSES = (
    Status.DRAFT,
    Status.SCHEDULED,
    Status.PLANNING,
    Status.DISPATCHING,
    Status.FOLLOWING,
    Status.DONE,
    Status.CANCELLED,
)
OPEN_STATUSES = frozenset(STATUSES) - {Status.DONE, Status.CANCELLED}

COUNTERS = (
    "recipients",
    "senders",
    "batches",
    "batches_sent",
    "batches_failed",
    "rejected",
    "sent",
    "not_friend",
    "over_quota",
    "unsent",
    "employees_confirmed",
    "reminders",
)
"""Atomic counters on the broadcast: planned recipients/senders/batches; batches settled; recipients WeCom refused
at creation (fail_list), delivered (1), not a friend (2), over quota (3), never sent when following ended."""


class Conflict(RuntimeError):
    """A conditional write lost: the item is not in the state the caller read."""


# ---- models ----


class NewestIndex(GlobalSecondaryIndex["BroadcastItem"]):
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


@on_table(resources.DATA)
class BroadcastItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    newest = NewestIndex()
    broadcast_id = UnicodeAttribute()
    status = UnicodeAttribute()
    chat_type = UnicodeAttribute()
    content = UnicodeAttribute()
    audience = UnicodeAttribute()
    sender = UnicodeAttribute(null=True)
    send_at = NumberAttribute()
    allow_select = NumberAttribute()
    created_at = NumberAttribute()
    created_by = UnicodeAttribute(null=True)
    updated_at = NumberAttribute()
    recipients = NumberAttribute(default=0)
    senders = NumberAttribute(default=0)
    batches = NumberAttribute(default=0)
    batches_sent = NumberAttribute(default=0)
    batches_failed = NumberAttribute(default=0)
    rejected = NumberAttribute(default=0)
    sent = NumberAttribute(default=0)
    not_friend = NumberAttribute(default=0)
    over_quota = NumberAttribute(default=0)
    unsent = NumberAttribute(default=0)
    employees_confirmed = NumberAttribute(default=0)
    reminders = NumberAttribute(default=0)
    skipped = UnicodeAttribute(null=True)
    plan_cursor = UnicodeAttribute(null=True)
    plan_state = UnicodeAttribute(null=True)
    plan_page = NumberAttribute(default=0)
    follow_until = NumberAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    version = NumberAttribute(default=0)


@on_table(resources.DATA)
class BatchItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    batch_id = UnicodeAttribute()
    sender = UnicodeAttribute()
    sequence = NumberAttribute()
    size = NumberAttribute()
    parts = NumberAttribute()
    status = UnicodeAttribute()
    version = NumberAttribute()
    attempts = NumberAttribute(default=0)
    throttled = NumberAttribute(null=True)
    claimed_by = UnicodeAttribute(null=True)
    lease_until = NumberAttribute(default=0)
    attempt_at = NumberAttribute(default=0)
    msgid = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    fail_list = UnicodeAttribute(null=True)


@on_table(resources.DATA)
class PartItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    recipients = UnicodeAttribute()


@on_table(resources.DATA)
class EmployeeResultItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    userid = UnicodeAttribute()
    msgids = UnicodeAttribute(null=True)
    task_status = NumberAttribute(default=0)
    send_time = NumberAttribute(default=0)
    counts = MapAttribute(default=dict)
    reminded_at = UnicodeAttribute(null=True)


@on_table(resources.DATA)
class CustomerResultItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    recipient = UnicodeAttribute()
    userid = UnicodeAttribute()
    status = UnicodeAttribute()
    msgid = UnicodeAttribute(null=True)
    send_time = NumberAttribute(default=0)
    reason = UnicodeAttribute(null=True)


@on_table(resources.DATA)
class PolicyItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    body = UnicodeAttribute()


@on_table(resources.RUNTIME)
class TimerItem(Model):
    class Meta:
        table_name = resources.RUNTIME.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    tenant_id = UnicodeAttribute()
    broadcast_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    at = NumberAttribute()
    expires_at = NumberAttribute()


# ---- plain values ----


@dataclass(frozen=True)
class Broadcast:
    """A mass message as the admin created it and as the engine advanced it.

    `content` is `{"text": str, "attachments": [...]}`; `audience` the JSON form of an `AudienceFilter` (see
    `audience_from_json`) or, for `chat_type == "group"`, `{"chat_ids": [...]}` (empty: all of `sender`'s groups).
    `send_at` is epoch seconds. `counts` holds the `COUNTERS`; `skipped` the planner's skips by reason.
    """

    broadcast_id: str
    status: str
    chat_type: str
    content: Mapping[str, Any]
    audience: Mapping[str, Any]
    send_at: int
    allow_select: bool = False
    sender: str = ""
    created_at: int = 0
    created_by: str = ""
    updated_at: int = 0
    counts: Mapping[str, int] = field(default_factory=dict)
    skipped: Mapping[str, int] = field(default_factory=dict)
    plan_cursor: str = ""
    plan_state: str = ""
    plan_page: int = 0
    follow_until: int = 0
    reason: str = ""
    version: int = 0

    def to_json(self) -> dict[str, Any]:
        """The admin API's view (no planner internals)."""
        return {
            "broadcast_id": self.broadcast_id,
            "status": self.status,
            "chat_type": self.chat_type,
            "content": dict(self.content),
            "audience": dict(self.audience),
            "sender": self.sender or None,
            "send_at": self.send_at,
            "allow_select": self.allow_select,
            "created_at": self.created_at,
            "created_by": self.created_by or None,
            "updated_at": self.updated_at,
            "counts": {name: int(self.counts.get(name, 0)) for name in COUNTERS},
            "skipped": dict(self.skipped),
            "follow_until": self.follow_until or None,
            "reason": self.reason or None,
        }


@dataclass(frozen=True)
class Batch:
    """A dispatch batch: at most WeCom's per-call maximum recipients of one sender, and its state."""

    broadcast_id: str
    batch_id: str
    sender: str
    sequence: int
    size: int
    parts: int
    state: BatchState
    attempt_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        s = self.state
        return {
            "batch_id": self.batch_id,
            "sender": self.sender,
            "sequence": self.sequence,
            "size": self.size,
            "status": s.status.value,
            "attempts": s.attempts,
            "msgid": s.msgid or None,
            "reason": s.reason or None,
            "rejected": len(s.fail_list),
        }


@dataclass(frozen=True)
class EmployeeResult:
    """One sender's part: the WeCom task(s), whether they confirmed, and per-status recipient counts."""

    userid: str
    msgids: tuple[str, ...] = ()
    task_status: int = 0
    send_time: int = 0
    counts: Mapping[str, int] = field(default_factory=dict)
    reminded_at: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "userid": self.userid,
            "confirmed": self.task_status == 2,
            "send_time": self.send_time or None,
            "counts": dict(self.counts),
            "reminders": len(self.reminded_at),
        }


@dataclass(frozen=True)
class CustomerResult:
    """One recipient's outcome: sent, not_friend, over_quota, rejected (WeCom's fail_list), unsent."""

    recipient: str
    userid: str
    status: str
    msgid: str = ""
    send_time: int = 0
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "recipient": self.recipient,
            "userid": self.userid,
            "status": self.status,
            "send_time": self.send_time or None,
            "reason": self.reason or None,
        }


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    cursor: str | None


@dataclass(frozen=True)
class Policy:
    """A tenant's mass-message policy: frequency rules, how long results are followed, reminders."""

    frequency: FrequencyPolicy = field(default_factory=FrequencyPolicy)
    follow_hours: int = 72
    auto_remind_after_hours: int = 0
    """0: no automatic reminders (the admin may still remind); otherwise remind non-confirmers after this long."""

    def to_json(self) -> dict[str, Any]:
        rules = [
            {"at_most": r.count, "days": r.days} if isinstance(r, AtMostPerDays) else {"gap_hours": r.hours}
            for r in self.frequency.quiet_rules
        ]
        return {
            "quota": self.frequency.quota.value,
            "quiet_rules": rules,
            "timezone": self.frequency.timezone,
            "follow_hours": self.follow_hours,
            "auto_remind_after_hours": self.auto_remind_after_hours,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Policy:
        rules: list[AtMostPerDays | MinimumGap] = [
            AtMostPerDays(int(r["at_most"]), int(r["days"])) if "at_most" in r else MinimumGap(float(r["gap_hours"]))
            for r in data.get("quiet_rules", ())
        ]
        frequency = FrequencyPolicy(
            WeComQuota(data.get("quota", WeComQuota.DAYS_IN_MONTH.value)),
            tuple(rules),
            data.get("timezone") or FrequencyPolicy().timezone,
        )
        return cls(frequency, int(data.get("follow_hours", 72)), int(data.get("auto_remind_after_hours", 0)))


@dataclass(frozen=True)
class Timer:
    """A due piece of work found by the schedule handler: `start` a scheduled broadcast, or `follow` its results."""

    tenant_id: str
    broadcast_id: str
    kind: str
    at: int
    bucket: str


START, FOLLOW = "start", "follow"
TIMER_RETENTION_SECONDS = 7 * 86_400


def new_broadcast_id(now: float | None = None) -> str:
    """Time-ordered, unguessable, key-safe: `bc<ms:013d><hex8>`."""
    return f"bc{int((now if now is not None else time.time()) * 1000):013d}{secrets.token_hex(4)}"


def minute_bucket(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y%m%d%H%M")


def _encode_cursor(key: Mapping[str, Any] | None) -> str | None:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode() if key else None


def _decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError as error:
        raise ValueError("invalid cursor") from error


def _counts(attr: Any) -> dict[str, int]:
    if attr is None:
        return {}
    raw = attr.as_dict() if hasattr(attr, "as_dict") else dict(attr)
    return {k: int(v) for k, v in raw.items()}


def _is_condition_failure(error: Exception) -> bool:
    return getattr(error, "cause_response_code", "") == "ConditionalCheckFailedException"


def _to_broadcast(item: BroadcastItem) -> Broadcast:
    return Broadcast(
        broadcast_id=item.broadcast_id,
        status=item.status,
        chat_type=item.chat_type,
        content=json.loads(item.content),
        audience=json.loads(item.audience),
        send_at=int(item.send_at),
        allow_select=bool(item.allow_select),
        sender=item.sender or "",
        created_at=int(item.created_at),
        created_by=item.created_by or "",
        updated_at=int(item.updated_at),
        counts={name: int(getattr(item, name) or 0) for name in COUNTERS},
        skipped=json.loads(item.skipped) if item.skipped else {},
        plan_cursor=item.plan_cursor or "",
        plan_state=item.plan_state or "",
        plan_page=int(item.plan_page or 0),
        follow_until=int(item.follow_until or 0),
        reason=item.reason or "",
        version=int(item.version or 0),
    )


def _to_batch(broadcast_id: str, item: BatchItem) -> Batch:
    state = BatchState(
        status=BatchStatus(item.status),
        version=int(item.version),
        attempts=int(item.attempts or 0),
        throttled=int(item.throttled or 0),
        claimed_by=item.claimed_by or "",
        lease_until=float(item.lease_until or 0),
        msgid=item.msgid or "",
        reason=item.reason or "",
        fail_list=tuple(json.loads(item.fail_list)) if item.fail_list else (),
    )
    return Batch(
        broadcast_id,
        item.batch_id,
        item.sender,
        int(item.sequence),
        int(item.size),
        int(item.parts),
        state,
        float(item.attempt_at or 0),
    )


class BroadcastStore:
    """The mass messages of one tenant; every key it builds begins with that tenant's id."""

    def __init__(self, tenant_id: str, settings: Settings | None = None) -> None:
        self.keys = TenantKeys(tenant_id)
        self.tenant_id = tenant_id
        self.settings = bind_models(settings)

    def _pk(self, broadcast_id: str) -> str:
        return self.keys.key("bc", broadcast_id)

    # ---- broadcasts ----

    def create(
        self,
        *,
        chat_type: str,
        content: Mapping[str, Any],
        audience: Mapping[str, Any],
        send_at: int | None = None,
        allow_select: bool = False,
        sender: str = "",
        created_by: str = "",
        status: str = Status.DRAFT,
        now: float | None = None,
    ) -> Broadcast:
        """Store a new broadcast (draft unless told); `send_at` defaults to now."""
        if chat_type not in ("single", "group"):
            raise ValueError("chat_type must be single or group")
        if status not in (Status.DRAFT, Status.SCHEDULED):
            raise ValueError("a broadcast is created as draft or scheduled")
        now = time.time() if now is None else now
        broadcast_id = new_broadcast_id(now)
        item = BroadcastItem(
            self._pk(broadcast_id),
            "meta",
            gsi1pk=self.keys.key("bcs"),
            gsi1sk=f"{int(now * 1000):013d}#{broadcast_id}",
            broadcast_id=broadcast_id,
            status=status,
            chat_type=chat_type,
            content=json.dumps(dict(content), ensure_ascii=False, separators=(",", ":")),
            audience=json.dumps(dict(audience), ensure_ascii=False, separators=(",", ":")),
            sender=sender or None,
            send_at=int(send_at if send_at is not None else now),
            allow_select=int(allow_select),
            created_at=int(now),
            created_by=created_by or None,
            updated_at=int(now),
            version=0,
        )
        item.save(condition=BroadcastItem.pk.does_not_exist())
        return _to_broadcast(item)

    def get(self, broadcast_id: str) -> Broadcast | None:
        try:
            return _to_broadcast(BroadcastItem.get(self._pk(broadcast_id), "meta", consistent_read=True))
        except DoesNotExist:
            return None

    def list(self, limit: int = 20, cursor: str | None = None) -> Page[Broadcast]:
        """Broadcasts newest first, `limit` per page; pass the returned cursor for the next page."""
        result = BroadcastItem.newest.query(
            self.keys.key("bcs"), scan_index_forward=False, limit=limit, last_evaluated_key=_decode_cursor(cursor)
        )
        items = [_to_broadcast(i) for i in result]
        return Page(items, _encode_cursor(result.last_evaluated_key) if len(items) == limit else None)

    def set_status(
        self,
        broadcast_id: str,
        status: str,
        *,
        expect: Iterable[str],
        reason: str = "",
        counts: Mapping[str, int] | None = None,
        now: float | None = None,
    ) -> Broadcast:
        """Move to `status` if the broadcast is in one of `expect` (setting `counts` with it); raises Conflict
        otherwise."""
        item = BroadcastItem(self._pk(broadcast_id), "meta")
        expected = list(expect)
        actions = [
            BroadcastItem.status.set(status),
            BroadcastItem.updated_at.set(int(time.time() if now is None else now)),
            BroadcastItem.version.add(1),
        ]
        if reason:
            actions.append(BroadcastItem.reason.set(reason))
        actions.extend(getattr(BroadcastItem, name).set(int(v)) for name, v in (counts or {}).items())
        try:
            item.update(actions=actions, condition=BroadcastItem.status.is_in(*expected))
        except UpdateError as error:
            if _is_condition_failure(error):
                raise Conflict(f"broadcast {broadcast_id} is not in {expected}") from None
            raise
        return _to_broadcast(item)

    def set_follow_until(self, broadcast_id: str, follow_until: int) -> None:
        BroadcastItem(self._pk(broadcast_id), "meta").update(actions=[BroadcastItem.follow_until.set(follow_until)])

    def add_counts(self, broadcast_id: str, **deltas: int) -> None:
        """Atomically add to the broadcast's counters (unknown names are refused)."""
        unknown = set(deltas) - set(COUNTERS)
        if unknown:
            raise ValueError(f"unknown counters {sorted(unknown)}")
        actions = [getattr(BroadcastItem, name).add(v) for name, v in deltas.items() if v]
        if actions:
            BroadcastItem(self._pk(broadcast_id), "meta").update(actions=actions)

    def set_counts(self, broadcast_id: str, counts: Mapping[str, int]) -> None:
        """Overwrite counters recomputed from their source (idempotent, unlike `add_counts`)."""
        unknown = set(counts) - set(COUNTERS)
        if unknown:
            raise ValueError(f"unknown counters {sorted(unknown)}")
        if counts:
            BroadcastItem(self._pk(broadcast_id), "meta").update(
                actions=[getattr(BroadcastItem, name).set(int(v)) for name, v in counts.items()]
            )

    # ---- planning checkpoint ----

    def save_plan_checkpoint(
        self,
        broadcast_id: str,
        *,
        page: int,
        cursor: str,
        state: str,
        skipped: Mapping[str, int],
        counts: Mapping[str, int],
    ) -> None:
        """Record that planning finished page `page - 1`: the audience cursor and planner state after it. The
        condition (stored page is `page - 1`, status planning) means two planners never both advance."""
        item = BroadcastItem(self._pk(broadcast_id), "meta")
        actions = [
            BroadcastItem.plan_page.set(page),
            BroadcastItem.plan_cursor.set(cursor or None),
            BroadcastItem.plan_state.set(state),
            BroadcastItem.skipped.set(json.dumps(dict(skipped), separators=(",", ":"))),
            *(getattr(BroadcastItem, name).set(int(v)) for name, v in counts.items()),
            BroadcastItem.updated_at.set(int(time.time())),
        ]
        try:
            item.update(
                actions=actions,
                condition=(BroadcastItem.plan_page == page - 1) & (BroadcastItem.status == Status.PLANNING),
            )
        except UpdateError as error:
            if _is_condition_failure(error):
                raise Conflict(f"broadcast {broadcast_id}: plan page {page - 1} was already checkpointed") from None
            raise

    # ---- batches ----

    def put_parts(self, broadcast_id: str, parts: Iterable[tuple[str, int, list[str]]]) -> int:
        """Write batch parts `(batch_id, part, recipients)`; rewriting one writes the same content (idempotent)."""
        pk = self._pk(broadcast_id)
        count = 0
        with PartItem.batch_write() as batch:
            for batch_id, part, recipients in parts:
                batch.save(PartItem(pk, f"part#{batch_id}#{part:04d}", recipients="\n".join(recipients)))
                count += 1
        return count

    def put_batches(self, broadcast_id: str, batches: Iterable[tuple[str, str, int, int, int]]) -> list[str]:
        """Create pending batches `(batch_id, sender, sequence, size, parts)`; an existing one is left as it is (a
        replayed planning page must not reset a batch already sent). Returns the ids newly created."""
        pk = self._pk(broadcast_id)
        created = []
        for batch_id, sender, sequence, size, parts in batches:
            item = BatchItem(
                pk,
                f"batch#{batch_id}",
                batch_id=batch_id,
                sender=sender,
                sequence=sequence,
                size=size,
                parts=parts,
                status=BatchStatus.PENDING.value,
                version=0,
            )
            try:
                item.save(condition=BatchItem.pk.does_not_exist())
                created.append(batch_id)
            except PutError as error:
                if not _is_condition_failure(error):
                    raise
        return created

    def get_batch(self, broadcast_id: str, batch_id: str) -> Batch | None:
        try:
            item = BatchItem.get(self._pk(broadcast_id), f"batch#{batch_id}", consistent_read=True)
        except DoesNotExist:
            return None
        return _to_batch(broadcast_id, item)

    def batches(self, broadcast_id: str, limit: int | None = None, cursor: str | None = None) -> Page[Batch]:
        """The broadcast's batches in id order (paged when `limit` is given)."""
        result = BatchItem.query(
            self._pk(broadcast_id),
            BatchItem.sk.startswith("batch#"),
            limit=limit,
            last_evaluated_key=_decode_cursor(cursor),
            consistent_read=True,
        )
        items = [_to_batch(broadcast_id, i) for i in result]
        more = limit is not None and len(items) == limit
        return Page(items, _encode_cursor(result.last_evaluated_key) if more else None)

    def recipients(self, broadcast_id: str, batch: Batch) -> list[str]:
        """A batch's recipients, the concatenation of its parts (one Query)."""
        items = PartItem.query(
            self._pk(broadcast_id), PartItem.sk.startswith(f"part#{batch.batch_id}#"), consistent_read=True
        )
        recipients: list[str] = []
        for item in items:
            recipients.extend(r for r in item.recipients.split("\n") if r)
        return recipients

    def transition(self, batch: Batch, new: BatchState, *, attempt_at: float | None = None) -> Batch:
        """Write `new` over `batch.state` if the stored version is still the one read; raises Conflict otherwise."""
        item = BatchItem(self._pk(batch.broadcast_id), f"batch#{batch.batch_id}")
        actions = [
            BatchItem.status.set(new.status.value),
            BatchItem.version.set(new.version),
            BatchItem.attempts.set(new.attempts),
            BatchItem.throttled.set(new.throttled),
            BatchItem.claimed_by.set(new.claimed_by or None),
            BatchItem.lease_until.set(new.lease_until),
            BatchItem.msgid.set(new.msgid or None),
            BatchItem.reason.set(new.reason or None),
            BatchItem.fail_list.set(json.dumps(list(new.fail_list)) if new.fail_list else None),
        ]
        if attempt_at is not None:
            actions.append(BatchItem.attempt_at.set(attempt_at))
        try:
            item.update(actions=actions, condition=BatchItem.version == batch.state.version)
        except UpdateError as error:
            if _is_condition_failure(error):
                raise Conflict(f"batch {batch.batch_id} moved past version {batch.state.version}") from None
            raise
        return replace(batch, state=new, attempt_at=batch.attempt_at if attempt_at is None else attempt_at)

    # ---- results ----

    def employee_result(self, broadcast_id: str, userid: str) -> EmployeeResult | None:
        try:
            item = EmployeeResultItem.get(self._pk(broadcast_id), f"emp#{userid}", consistent_read=True)
        except DoesNotExist:
            return None
        return _to_employee(item)

    def add_employee_msgid(self, broadcast_id: str, userid: str, msgid: str) -> None:
        """Note that `userid` has a WeCom task `msgid` for this broadcast (idempotent)."""
        for _ in range(5):
            current = self.employee_result(broadcast_id, userid)
            msgids = list(current.msgids) if current else []
            if msgid in msgids:
                return
            item = EmployeeResultItem(
                self._pk(broadcast_id),
                f"emp#{userid}",
                userid=userid,
                msgids=json.dumps([*msgids, msgid]),
                task_status=current.task_status if current else 0,
                send_time=current.send_time if current else 0,
                counts=dict(current.counts) if current else {},
                reminded_at=json.dumps(list(current.reminded_at)) if current and current.reminded_at else None,
            )
            condition = (
                EmployeeResultItem.msgids == json.dumps(msgids)
                if current and current.msgids
                else EmployeeResultItem.msgids.does_not_exist()
            )
            try:
                item.save(condition=condition)
                return
            except PutError as error:
                if not _is_condition_failure(error):
                    raise
        raise Conflict(f"employee result {userid}: too much contention")

    def put_employee_result(self, broadcast_id: str, result: EmployeeResult) -> None:
        """Overwrite an employee's result (the results worker owns these once dispatch is over)."""
        EmployeeResultItem(
            self._pk(broadcast_id),
            f"emp#{result.userid}",
            userid=result.userid,
            msgids=json.dumps(list(result.msgids)) if result.msgids else None,
            task_status=result.task_status,
            send_time=result.send_time,
            counts={k: int(v) for k, v in result.counts.items()},
            reminded_at=json.dumps(list(result.reminded_at)) if result.reminded_at else None,
        ).save()

    def employee_results(self, broadcast_id: str, limit: int = 100, cursor: str | None = None) -> Page[EmployeeResult]:
        result = EmployeeResultItem.query(
            self._pk(broadcast_id),
            EmployeeResultItem.sk.startswith("emp#"),
            limit=limit,
            last_evaluated_key=_decode_cursor(cursor),
        )
        items = [_to_employee(i) for i in result]
        return Page(items, _encode_cursor(result.last_evaluated_key) if len(items) == limit else None)

    def all_employee_results(self, broadcast_id: str) -> Iterator[EmployeeResult]:
        for item in EmployeeResultItem.query(self._pk(broadcast_id), EmployeeResultItem.sk.startswith("emp#")):
            yield _to_employee(item)

    def put_customer_results(self, broadcast_id: str, results: Iterable[CustomerResult]) -> int:
        """Write per-recipient outcomes (BatchWrite; the latest outcome of a recipient wins)."""
        pk = self._pk(broadcast_id)
        count = 0
        with CustomerResultItem.batch_write() as batch:
            for r in results:
                batch.save(
                    CustomerResultItem(
                        pk,
                        f"cust#{r.recipient}",
                        recipient=r.recipient,
                        userid=r.userid,
                        status=r.status,
                        msgid=r.msgid or None,
                        send_time=r.send_time,
                        reason=r.reason or None,
                    )
                )
                count += 1
        return count

    def customer_results(self, broadcast_id: str, limit: int = 100, cursor: str | None = None) -> Page[CustomerResult]:
        result = CustomerResultItem.query(
            self._pk(broadcast_id),
            CustomerResultItem.sk.startswith("cust#"),
            limit=limit,
            last_evaluated_key=_decode_cursor(cursor),
        )
        items = [
            CustomerResult(i.recipient, i.userid, i.status, i.msgid or "", int(i.send_time or 0), i.reason or "")
            for i in result
        ]
        return Page(items, _encode_cursor(result.last_evaluated_key) if len(items) == limit else None)

    # ---- policy ----

    def get_policy(self) -> Policy:
        try:
            return Policy.from_json(json.loads(PolicyItem.get(self.keys.key("bcpolicy"), "policy").body))
        except DoesNotExist:
            return Policy()

    def put_policy(self, policy: Policy) -> None:
        PolicyItem(self.keys.key("bcpolicy"), "policy", body=json.dumps(policy.to_json())).save()

    # ---- timers ----

    def set_timer(self, broadcast_id: str, kind: str, at: float) -> None:
        """Ask the schedule handler to `start` or `follow` this broadcast in the minute of `at`."""
        add_timer(self.tenant_id, broadcast_id, kind, at)


def _to_employee(item: EmployeeResultItem) -> EmployeeResult:
    return EmployeeResult(
        item.userid,
        tuple(json.loads(item.msgids)) if item.msgids else (),
        int(item.task_status or 0),
        int(item.send_time or 0),
        _counts(item.counts),
        tuple(json.loads(item.reminded_at)) if item.reminded_at else (),
    )


def add_timer(tenant_id: str, broadcast_id: str, kind: str, at: float) -> None:
    """A timer entry in the minute bucket of `at` (idempotent)."""
    bind_models()
    TimerItem(
        f"due#{minute_bucket(at)}",
        f"{kind}#{tenant_id}#{broadcast_id}",
        tenant_id=tenant_id,
        broadcast_id=broadcast_id,
        kind=kind,
        at=int(at),
        expires_at=int(at) + TIMER_RETENTION_SECONDS,
    ).save()


def due_timers(buckets: Iterable[str]) -> Iterator[Timer]:
    """Timer entries of these minute buckets (one Query per bucket)."""
    bind_models()
    for bucket in buckets:
        for item in TimerItem.query(f"due#{bucket}"):
            yield Timer(item.tenant_id, item.broadcast_id, item.kind, int(item.at), bucket)


def remove_timer(timer: Timer) -> None:
    try:
        TimerItem(f"due#{timer.bucket}", f"{timer.kind}#{timer.tenant_id}#{timer.broadcast_id}").delete()
    except DeleteError as error:
        if not _is_condition_failure(error):
            raise
