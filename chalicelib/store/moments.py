"""Customer moment tasks of one tenant, their results per employee and per customer, and customers' moment events
(data table).

| item | pk | sk |
|---|---|---|
| task | `<t>#moment` | `<task_id>` |
| result per employee | `<t>#moment-emp#<task_id>` | `<userid>` |
| result per customer | `<t>#moment-cust#<task_id>` | `<userid>#<external_userid>` |
| customer event (timeline) | `<t>#cust-evt#<external_userid>` | `<at:010d>#<kind>#<moment_id>#<userid>` |

A customer event's key is the event itself, so writing the same comment or like twice leaves one item.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, PutError
from pynamodb.models import Model

from chalicelib import resources
from chalicelib.config import Settings
from chalicelib.domain.moments import MomentTask
from chalicelib.store.dynamo import BatchWriter, Conflict, Page, decode_key, encode_cursor, is_condition_failure
from chalicelib.store.keys import TenantKeys
from chalicelib.store.tables import bind_models, on_table, shared_connection


@on_table(resources.DATA)
class MomentItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    status = UnicodeAttribute()
    body = UnicodeAttribute()
    version = NumberAttribute()


@on_table(resources.DATA)
class MomentEmployeeItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    published = BooleanAttribute()
    customers_visible = NumberAttribute()
    customers_reached = NumberAttribute()
    comments = NumberAttribute()
    likes = NumberAttribute()
    reminded = BooleanAttribute()


@on_table(resources.DATA)
class MomentCustomerItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    reached = BooleanAttribute()
    comments = NumberAttribute()
    liked = BooleanAttribute()


@on_table(resources.DATA)
class CustomerEventItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute()
    userid = UnicodeAttribute()
    ref = UnicodeAttribute()
    at = NumberAttribute()


@dataclass(frozen=True)
class EmployeeResult:
    """One employee's part of a moment: published or not, customers it could reach and reached, reactions."""

    userid: str
    published: bool
    customers_visible: int = 0
    customers_reached: int = 0
    comments: int = 0
    likes: int = 0
    reminded: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "userid": self.userid,
            "published": self.published,
            "customers_visible": self.customers_visible,
            "customers_reached": self.customers_reached,
            "comments": self.comments,
            "likes": self.likes,
            "reminded": self.reminded,
        }


@dataclass(frozen=True)
class CustomerResult:
    userid: str
    external_userid: str
    reached: bool
    comments: int = 0
    liked: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "userid": self.userid,
            "external_userid": self.external_userid,
            "reached": self.reached,
            "comments": self.comments,
            "liked": self.liked,
        }


@dataclass(frozen=True)
class CustomerEvent:
    """Something a customer did that belongs on their timeline (a comment or like on a moment)."""

    external_userid: str
    kind: str
    at: int
    userid: str
    ref: str

    def as_dict(self) -> dict[str, object]:
        return {"at": self.at, "what": self.kind, "userid": self.userid, "moment_id": self.ref}


def _task_of(item: MomentItem) -> MomentTask:
    data = json.loads(item.body)
    for name in ("attachments", "userids", "department_ids", "tag_ids", "invalid_userids", "invalid_department_ids"):
        data[name] = tuple(data.get(name, ()))
    data["invalid_tag_ids"] = tuple(data.get("invalid_tag_ids", ()))
    return MomentTask(task_id=item.sk, status=item.status, **data)


def _body(task: MomentTask) -> str:
    data = {k: v for k, v in task.__dict__.items() if k not in ("task_id", "status")}
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=list)


class MomentStore:
    """Moment tasks and their results, one tenant's."""

    def __init__(self, tenant_id: str, settings: Settings | None = None) -> None:
        self.keys = TenantKeys(tenant_id)
        self.settings = bind_models(settings)

    def _pk(self) -> str:
        return self.keys.key("moment")

    def _writer(self) -> BatchWriter:
        return BatchWriter(shared_connection(self.settings).client, self.settings.table(resources.DATA))

    # tasks

    def create(self, task: MomentTask) -> MomentTask:
        MomentItem(self._pk(), task.task_id, status=task.status, body=_body(task), version=1).save(
            condition=MomentItem.pk.does_not_exist()
        )
        return task

    def get(self, task_id: str) -> MomentTask | None:
        found = self._item(task_id)
        return _task_of(found) if found else None

    def _item(self, task_id: str) -> MomentItem | None:
        try:
            return MomentItem.get(self._pk(), task_id, consistent_read=True)
        except DoesNotExist:
            return None

    def save(self, task: MomentTask, expected_status: str) -> MomentTask:
        """Write the task if it is still in `expected_status` (else Conflict: e.g. an admin cancelled it)."""
        current = self._item(task.task_id)
        if current is None or current.status != expected_status:
            raise Conflict(task.task_id)
        try:
            MomentItem(
                self._pk(), task.task_id, status=task.status, body=_body(task), version=int(current.version) + 1
            ).save(condition=MomentItem.version == current.version)
        except PutError as error:
            if is_condition_failure(error):
                raise Conflict(task.task_id) from None
            raise
        return task

    def page(self, limit: int, cursor: str | None) -> Page[MomentTask]:
        start = decode_key(cursor, ("pk", self._pk()))
        result = MomentItem.query(self._pk(), limit=limit, last_evaluated_key=start, scan_index_forward=False)
        items = [_task_of(i) for i in result]
        return Page(items, encode_cursor(result.last_evaluated_key))

    # results

    def put_employees(self, task_id: str, results: Iterable[EmployeeResult]) -> None:
        pk = self.keys.key("moment-emp", task_id)
        with self._writer() as batch:
            for r in results:
                batch.put(
                    MomentEmployeeItem(
                        pk,
                        r.userid,
                        published=r.published,
                        customers_visible=r.customers_visible,
                        customers_reached=r.customers_reached,
                        comments=r.comments,
                        likes=r.likes,
                        reminded=r.reminded,
                    )
                )

    def employees(self, task_id: str, limit: int | None = None, cursor: str | None = None) -> Page[EmployeeResult]:
        pk = self.keys.key("moment-emp", task_id)
        result = MomentEmployeeItem.query(pk, limit=limit, last_evaluated_key=decode_key(cursor, ("pk", pk)))
        items = [
            EmployeeResult(
                i.sk,
                bool(i.published),
                int(i.customers_visible),
                int(i.customers_reached),
                int(i.comments),
                int(i.likes),
                bool(i.reminded),
            )
            for i in result
        ]
        return Page(items, encode_cursor(result.last_evaluated_key) if limit else None)

    def put_customers(self, task_id: str, results: Iterable[CustomerResult]) -> None:
        pk = self.keys.key("moment-cust", task_id)
        with self._writer() as batch:
            for r in results:
                batch.put(
                    MomentCustomerItem(
                        pk, f"{r.userid}#{r.external_userid}", reached=r.reached, comments=r.comments, liked=r.liked
                    )
                )

    def customers(self, task_id: str, limit: int, cursor: str | None) -> Page[CustomerResult]:
        pk = self.keys.key("moment-cust", task_id)
        result = MomentCustomerItem.query(pk, limit=limit, last_evaluated_key=decode_key(cursor, ("pk", pk)))
        items = []
        for i in result:
            userid, external_userid = i.sk.split("#", 1)
            items.append(CustomerResult(userid, external_userid, bool(i.reached), int(i.comments), bool(i.liked)))
        return Page(items, encode_cursor(result.last_evaluated_key))

    # customers' timeline

    def add_customer_events(self, events: Iterable[CustomerEvent]) -> None:
        with self._writer() as batch:
            for e in events:
                batch.put(
                    CustomerEventItem(
                        self.keys.key("cust-evt", e.external_userid),
                        f"{e.at:010d}#{e.kind}#{e.ref}#{e.userid}",
                        kind=e.kind,
                        userid=e.userid,
                        ref=e.ref,
                        at=e.at,
                    )
                )

    def customer_events(self, external_userid: str) -> list[CustomerEvent]:
        return [
            CustomerEvent(external_userid, i.kind, int(i.at), i.userid, i.ref)
            for i in CustomerEventItem.query(self.keys.key("cust-evt", external_userid))
        ]
