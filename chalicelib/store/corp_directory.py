"""The corp's employees, departments and customer-tag catalogue as the full sync last saw them (data table).

| item | pk | sk |
|---|---|---|
| employee | `<t>#emp` | `<userid>` |
| department | `<t>#dept` | `<id:010d>` |
| tag catalogue | `<t>#tags` | `<group_id>#<tag_id>` |

One partition per kind, so each list is one Query.
"""

from __future__ import annotations

from collections.abc import Iterable

from pynamodb.attributes import ListAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib import resources
from chalicelib.domain.audience import Department, Employee
from chalicelib.domain.tag_catalogue import CatalogueTag
from chalicelib.store.customer_base import CustomerBase
from chalicelib.store.relations import ACTIVE
from chalicelib.store.tables import on_table


@on_table(resources.DATA)
class EmployeeItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    name = UnicodeAttribute(null=True)
    department_ids = ListAttribute(of=NumberAttribute, null=True)
    status = UnicodeAttribute()
    leader_in_departments = ListAttribute(of=NumberAttribute, null=True)
    direct_leaders = ListAttribute(of=UnicodeAttribute, null=True)
    main_department = NumberAttribute(null=True)


@on_table(resources.DATA)
class DepartmentItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    name = UnicodeAttribute(null=True)
    parent_id = NumberAttribute()
    order = NumberAttribute(null=True)


@on_table(resources.DATA)
class TagItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    group_id = UnicodeAttribute()
    group_name = UnicodeAttribute(null=True)
    group_order = NumberAttribute(null=True)
    tag_id = UnicodeAttribute()
    name = UnicodeAttribute()
    order = NumberAttribute(null=True)


class CorpDirectory(CustomerBase):
    """Employees, departments and the tag catalogue (part of `CustomerStore`)."""

    def put_employees(self, employees: Iterable[Employee]) -> int:
        count = 0
        with self.writer() as batch:
            for e in employees:
                batch.put(
                    EmployeeItem(
                        self.keys.key("emp"),
                        e.userid,
                        name=e.name or None,
                        department_ids=list(e.department_ids) or None,
                        status=ACTIVE if e.active else "departed",
                        leader_in_departments=list(e.leader_in_departments) or None,
                        direct_leaders=list(e.direct_leaders) or None,
                        main_department=e.main_department or None,
                    )
                )
                count += 1
        return count

    def has_employee(self, userid: str) -> bool:
        """Whether the directory lists this employee (departed or not): one GetItem."""
        try:
            EmployeeItem.get(self.keys.key("emp"), userid, attributes_to_get=["sk"])
        except EmployeeItem.DoesNotExist:
            return False
        return True

    def list_employees(self) -> list[Employee]:
        return [
            Employee(
                i.sk,
                i.name or "",
                tuple(int(d) for d in i.department_ids or ()),
                i.status == ACTIVE,
                tuple(int(d) for d in i.leader_in_departments or ()),
                tuple(i.direct_leaders or ()),
                int(i.main_department or 0),
            )
            for i in EmployeeItem.query(self.keys.key("emp"))
        ]

    def put_departments(self, departments: Iterable[Department]) -> None:
        with self.writer() as batch:
            for d in departments:
                batch.put(
                    DepartmentItem(
                        self.keys.key("dept"), f"{d.id:010d}", name=d.name or None, parent_id=d.parent_id, order=d.order
                    )
                )

    def list_departments(self) -> list[Department]:
        return [
            Department(int(i.sk), i.name or "", int(i.parent_id), int(i.order or 0))
            for i in DepartmentItem.query(self.keys.key("dept"))
        ]

    def put_tag_catalogue(self, tags: Iterable[CatalogueTag]) -> None:
        """Replace the tag catalogue with `tags` (tags no longer listed are deleted)."""
        tags = list(tags)
        keep = {f"{t.group_id}#{t.tag_id}" for t in tags}
        with self.writer() as batch:
            for old in TagItem.query(self.keys.key("tags")):
                if old.sk not in keep:
                    batch.delete(old)
            for t in tags:
                batch.put(
                    TagItem(
                        self.keys.key("tags"),
                        f"{t.group_id}#{t.tag_id}",
                        group_id=t.group_id,
                        group_name=t.group_name or None,
                        group_order=t.group_order,
                        tag_id=t.tag_id,
                        name=t.name,
                        order=t.order,
                    )
                )

    def list_tags(self) -> list[CatalogueTag]:
        items = TagItem.query(self.keys.key("tags"))
        tags = [
            CatalogueTag(i.group_id, i.tag_id, i.name, i.group_name or "", int(i.group_order or 0), int(i.order or 0))
            for i in items
        ]
        return sorted(tags, key=lambda t: (t.group_order, t.group_id, t.order, t.tag_id))
