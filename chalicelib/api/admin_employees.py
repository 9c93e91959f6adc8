"""Employees and departments as the admin API shows them: who is active or departed, with how many customers.

Employees are one partition per tenant (`<t>#emp`), read a page at a time; customer counts are COUNT Queries of the
by-employee index for the employees on the page. A sales key sees only itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import BadRequestError, Blueprint, NotFoundError

from chalicelib.api.auth import AdminCall, admin_route
from chalicelib.api.schema import int_param, str_param
from chalicelib.domain.access import EVERYONE, READERS, visible_employee
from chalicelib.store.dynamo import InvalidCursor

if TYPE_CHECKING:
    from chalicelib.store.corp_directory import EmployeeItem
    from chalicelib.store.customer_directory import CustomerDirectory

admin_employees = Blueprint(__name__)

STATUSES = ("active", "departed", "any")


def employee_view(item: EmployeeItem, customers: int) -> dict[str, Any]:
    from chalicelib.store.relations import ACTIVE

    return {
        "userid": item.sk,
        "name": item.name or "",
        "department_ids": [int(d) for d in item.department_ids or ()],
        "status": "active" if item.status == ACTIVE else "departed",
        "leader_in_departments": [int(d) for d in item.leader_in_departments or ()],
        "direct_leaders": list(item.direct_leaders or ()),
        "customers": customers,
    }


@admin_route(
    admin_employees,
    "/v1/employees",
    methods=["GET"],
    roles=EVERYONE,
    summary="Employees with their status and number of active customers (a sales key: itself)",
    tag="employees",
    query=(
        ("status", "string", "active, departed or any (default)"),
        ("department", "integer", "only members of this department"),
        ("limit", "integer", "1 to 100, default 50"),
        ("cursor", "string", "next_cursor of the previous page"),
    ),
)
def list_employees(call: AdminCall) -> dict[str, Any]:
    from chalicelib.store.customer_directory import CustomerDirectory
    from chalicelib.store.relations import ACTIVE

    status = str_param(call.request, "status", 16) or "any"
    if status not in STATUSES:
        raise BadRequestError("query parameter 'status' must be active, departed or any")
    department = int_param(call.request, "department", 0, 0, 2**31 - 1)
    limit = int_param(call.request, "limit", 50, 1, 100)
    directory = CustomerDirectory(call.principal.tenant_id)
    own = visible_employee(call.principal, None)
    if own is not None:
        return {"employees": [_one(directory, own)], "next_cursor": None}
    try:
        items, cursor = directory.employees_page(limit, str_param(call.request, "cursor", 2048))
    except InvalidCursor:
        raise BadRequestError("invalid cursor") from None
    items = [
        i
        for i in items
        if (status == "any" or (i.status == ACTIVE) == (status == "active"))
        and (not department or department in {int(d) for d in i.department_ids or ()})
    ]
    counts = directory.count_customers(i.sk for i in items)
    return {"employees": [employee_view(i, counts[i.sk]) for i in items], "next_cursor": cursor}


def _one(directory: CustomerDirectory, userid: str) -> dict[str, Any]:
    items = [i for i in directory.employee_items([userid])]
    if not items:
        raise NotFoundError("no such employee")
    return employee_view(items[0], directory.count_customers([userid])[userid])


@admin_route(
    admin_employees,
    "/v1/employees/{userid}",
    methods=["GET"],
    roles=EVERYONE,
    summary="One employee with their status and number of active customers",
    tag="employees",
)
def get_employee(call: AdminCall, userid: str) -> dict[str, Any]:
    from chalicelib.store.customer_directory import CustomerDirectory

    own = visible_employee(call.principal, userid)
    if own != userid:
        raise NotFoundError("no such employee")
    return {"employee": _one(CustomerDirectory(call.principal.tenant_id), userid)}


@admin_route(admin_employees, "/v1/departments", methods=["GET"], roles=READERS, summary="Departments", tag="employees")
def list_departments(call: AdminCall) -> dict[str, Any]:
    from chalicelib.store.customer_directory import CustomerDirectory

    departments = CustomerDirectory(call.principal.tenant_id).store.list_departments()
    return {
        "departments": [
            {"id": d.id, "name": d.name, "parent_id": d.parent_id, "order": d.order}
            for d in sorted(departments, key=lambda d: d.id)
        ]
    }
