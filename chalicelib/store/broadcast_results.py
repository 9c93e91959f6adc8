"""What each sender and each recipient of a broadcast came to, in the broadcast's partition (data table).

| item | pk | sk |
|---|---|---|
| employee result | `<t>#bc#<id>` | `emp#<userid>` |
| customer result | `<t>#bc#<id>` | `cust#<external_userid or chat_id>` |

"Results of a broadcast" is a Query on its partition with a sort-key prefix.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from pynamodb.attributes import MapAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, PutError
from pynamodb.models import Model

from chalicelib import resources
from chalicelib.domain.broadcasts import CustomerResult, EmployeeResult
from chalicelib.store.broadcast_base import BroadcastBase
from chalicelib.store.dynamo import Conflict, Page, batch_writer, decode_key, encode_cursor, is_condition_failure
from chalicelib.store.tables import on_table


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


def _counts(attr: Any) -> dict[str, int]:
    if attr is None:
        return {}
    raw = attr.as_dict() if hasattr(attr, "as_dict") else dict(attr)
    return {k: int(v) for k, v in raw.items()}


def _to_employee(item: EmployeeResultItem) -> EmployeeResult:
    return EmployeeResult(
        item.userid,
        tuple(json.loads(item.msgids)) if item.msgids else (),
        int(item.task_status or 0),
        int(item.send_time or 0),
        _counts(item.counts),
        tuple(json.loads(item.reminded_at)) if item.reminded_at else (),
    )


class BroadcastResults(BroadcastBase):
    """Employee and customer results of a broadcast (part of `BroadcastStore`)."""

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
                if not is_condition_failure(error):
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
            last_evaluated_key=decode_key(cursor, ("pk", self._pk(broadcast_id)), ("sk", "emp#")),
        )
        items = [_to_employee(i) for i in result]
        return Page(items, encode_cursor(result.last_evaluated_key) if len(items) == limit else None)

    def all_employee_results(self, broadcast_id: str) -> Iterator[EmployeeResult]:
        for item in EmployeeResultItem.query(self._pk(broadcast_id), EmployeeResultItem.sk.startswith("emp#")):
            yield _to_employee(item)

    def put_customer_results(self, broadcast_id: str, results: Iterable[CustomerResult]) -> int:
        """Write per-recipient outcomes (BatchWrite; the latest outcome of a recipient wins)."""
        pk = self._pk(broadcast_id)
        count = 0
        with batch_writer(CustomerResultItem, self.settings) as batch:
            for r in results:
                batch.put(
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
            last_evaluated_key=decode_key(cursor, ("pk", self._pk(broadcast_id)), ("sk", "cust#")),
        )
        items = [
            CustomerResult(i.recipient, i.userid, i.status, i.msgid or "", int(i.send_time or 0), i.reason or "")
            for i in result
        ]
        return Page(items, encode_cursor(result.last_evaluated_key) if len(items) == limit else None)
