"""Customer transfers (离职继承 / 在职继承) of one tenant until they settle, and the tenant's departure policy.

| item | pk | sk | index keys |
|---|---|---|---|
| transfer pair | `<t>#transfer#<kind>#<handover>#<takeover>` | `pair` | gsi1 `transfers-due` / `<next:010d>#<pk>` |
| transferred customer | `<t>#transfer#<kind>#<handover>#<takeover>` | `cust#<external_userid>` | |
| departure policy | `<t>#lifecycle` | `policy` | |

WeCom reports a transfer's outcome per (handover, takeover) pair through transfer_result, so a pair is the unit the
schedule polls. A pair with customers still waiting (or to retry) sits in the `transfers-due` index, an operator-level
work list across tenants like the tenants directory, keyed by when it should next be checked; a settled pair leaves the
index (its keys are removed: a sparse index), so the poller reads only pairs that need it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib import resources
from chalicelib.config import Settings, get_settings
from chalicelib.domain.lifecycle import DeparturePolicy, SuccessorRule, TransferStatus
from chalicelib.store.dynamo import batch_writer
from chalicelib.store.keys import TenantKeys
from chalicelib.store.tables import bind_models, on_table

DUE_INDEX_KEY = "transfers-due"
RESIGNED, ON_JOB = "resigned", "onjob"


class DueIndex(GlobalSecondaryIndex["TransferPairItem"]):
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


@on_table(resources.DATA)
class TransferPairItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    due = DueIndex()
    tenant_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    handover = UnicodeAttribute()
    takeover = UnicodeAttribute()
    created_at = NumberAttribute()
    next_check_at = NumberAttribute(null=True)


@on_table(resources.DATA)
class TransferCustomerItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    external_userid = UnicodeAttribute()
    status = UnicodeAttribute()
    errcode = NumberAttribute(null=True)
    attempts = NumberAttribute()
    takeover_time = NumberAttribute(null=True)
    updated_at = NumberAttribute()


@on_table(resources.DATA)
class PolicyItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    rule = UnicodeAttribute()
    named_successor = UnicodeAttribute(null=True)
    alert_manager = UnicodeAttribute(null=True)


@dataclass(frozen=True)
class TransferPair:
    tenant_id: str
    kind: str
    handover: str
    takeover: str


@dataclass(frozen=True)
class TransferredCustomer:
    external_userid: str
    status: TransferStatus
    attempts: int
    errcode: int | None = None
    takeover_time: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "external_userid": self.external_userid,
            "status": self.status.value,
            "attempts": self.attempts,
            "errcode": self.errcode,
            "takeover_time": self.takeover_time,
        }


class TransferStore:
    """Transfers and the departure policy of one tenant."""

    def __init__(self, tenant_id: str, settings: Settings | None = None) -> None:
        self.tenant_id = tenant_id
        self.keys = TenantKeys(tenant_id)
        self.settings = bind_models(settings)

    def _pair_pk(self, kind: str, handover: str, takeover: str) -> str:
        return self.keys.key("transfer", kind, handover, takeover)

    def record(
        self,
        pair: TransferPair,
        outcomes: Mapping[str, tuple[TransferStatus, int | None]],
        now: int,
        next_check_at: int,
        takeover_times: Mapping[str, int] | None = None,
    ) -> None:
        """Write the status of some customers of a pair (attempts counted when a start was tried) and schedule the
        pair's next check; a pair whose customers have all settled leaves the due index."""
        pk = self._pair_pk(pair.kind, pair.handover, pair.takeover)
        previous = {c.external_userid: c for c in self.customers(pair)}
        with batch_writer(TransferCustomerItem, self.settings) as batch:
            for ext, (status, errcode) in outcomes.items():
                old = previous.get(ext)
                started = errcode is not None
                batch.put(
                    TransferCustomerItem(
                        pk,
                        f"cust#{ext}",
                        external_userid=ext,
                        status=status.value,
                        errcode=errcode if started else (old.errcode if old else None),
                        attempts=(old.attempts if old else 0) + (1 if started else 0),
                        takeover_time=(takeover_times or {}).get(ext, old.takeover_time if old else None),
                        updated_at=now,
                    )
                )
        merged = {**{e: c.status for e, c in previous.items()}, **{e: s for e, (s, _) in outcomes.items()}}
        item = TransferPairItem(
            pk,
            "pair",
            tenant_id=self.tenant_id,
            kind=pair.kind,
            handover=pair.handover,
            takeover=pair.takeover,
            created_at=now,
        )
        with contextlib.suppress(DoesNotExist):
            item.created_at = TransferPairItem.get(pk, "pair").created_at
        if not all(s.settled for s in merged.values()):
            item.next_check_at = next_check_at
            item.gsi1pk = DUE_INDEX_KEY
            item.gsi1sk = f"{next_check_at:010d}#{pk}"
        item.save()

    def customers(self, pair: TransferPair) -> list[TransferredCustomer]:
        items = TransferCustomerItem.query(
            self._pair_pk(pair.kind, pair.handover, pair.takeover), TransferCustomerItem.sk.startswith("cust#")
        )
        return [
            TransferredCustomer(
                i.external_userid,
                TransferStatus(i.status),
                int(i.attempts),
                int(i.errcode) if i.errcode is not None else None,
                int(i.takeover_time) if i.takeover_time is not None else None,
            )
            for i in items
        ]

    # departure policy

    def get_policy(self) -> DeparturePolicy:
        try:
            item = PolicyItem.get(self.keys.key("lifecycle"), "policy")
        except DoesNotExist:
            return DeparturePolicy()
        return DeparturePolicy(SuccessorRule(item.rule), item.named_successor or "", item.alert_manager or "")

    def set_policy(self, policy: DeparturePolicy) -> None:
        PolicyItem(
            self.keys.key("lifecycle"),
            "policy",
            rule=policy.rule.value,
            named_successor=policy.named_successor or None,
            alert_manager=policy.alert_manager or None,
        ).save()


def due_pairs(now: int, limit: int, settings: Settings | None = None) -> list[TransferPair]:
    """Pairs of any tenant whose next check is due by `now`, earliest first."""
    bind_models(settings or get_settings())
    items = TransferPairItem.due.query(DUE_INDEX_KEY, TransferPairItem.gsi1sk <= f"{now:010d}~", limit=limit)
    return [TransferPair(i.tenant_id, i.kind, i.handover, i.takeover) for i in items]
