"""Address book: user/get, user/list, user/simplelist, user/list_id, department/list."""

from __future__ import annotations

from local.wecom_sim import errors
from local.wecom_sim.errors import WeComError
from local.wecom_sim.models import Employee

from .common import GET, POST, Call, Route, integer, page, page_limit, text


def _user(employee: Employee, detail: bool) -> dict:
    user = {"userid": employee.userid, "name": employee.name, "department": employee.departments}
    if detail:
        user.update(
            position=employee.position,
            gender=str(employee.gender),
            status=1 if employee.activated else 4,
            main_department=employee.main,
            is_leader_in_dept=[int(d in employee.leader_in) for d in employee.departments],
            direct_leader=list(employee.direct_leader),
        )
    return user


def _subtree(call: Call, root: int, recursive: bool) -> set[int]:
    departments = call.company.departments
    if root not in departments:
        raise WeComError(errors.INVALID_DEPARTMENT)
    found = {root}
    changed = recursive
    while changed:
        more = {d.id for d in departments.values() if d.parentid in found} - found
        found |= more
        changed = bool(more)
    return found


def user_get(call: Call) -> dict:
    userid = text(call.query, "userid", errors.USERID_NOT_FOUND)
    employee = call.company.active_employee(userid)
    if employee is None:
        raise WeComError(errors.USERID_NOT_FOUND)
    return _user(employee, True)


def _members(call: Call) -> list[Employee]:
    root = integer(call.query, "department_id")
    departments = _subtree(call, root, call.query.get("fetch_child") == "1")
    return [e for e in call.company.employees.values() if e.active and departments.intersection(e.departments)]


def user_list(call: Call) -> dict:
    return {"userlist": [_user(e, True) for e in _members(call)]}


def user_simplelist(call: Call) -> dict:
    return {"userlist": [_user(e, False) for e in _members(call)]}


def user_list_id(call: Call) -> dict:
    limit = page_limit(call.body, 10_000, 10_000)
    employees = [e for e in call.company.employees.values() if e.active]
    chunk, cursor = page(employees, str(call.body.get("cursor", "")), limit)
    return {
        "dept_user": [{"userid": e.userid, "department": d} for e in chunk for d in e.departments],
        "next_cursor": cursor,
    }


def department_list(call: Call) -> dict:
    root = integer(call.query, "id", 1)
    wanted = _subtree(call, root, True)
    leaders = {u: e for u, e in call.company.employees.items() if e.active and e.leader_in}
    return {
        "department": [
            {
                "id": d.id,
                "name": d.name,
                "parentid": d.parentid,
                "order": d.order,
                "department_leader": sorted(u for u, e in leaders.items() if d.id in e.leader_in),
            }
            for d in call.company.departments.values()
            if d.id in wanted
        ]
    }


ROUTES = {
    "user/get": Route(GET, user_get),
    "user/list": Route(GET, user_list),
    "user/simplelist": Route(GET, user_simplelist),
    "user/list_id": Route(POST, user_list_id),
    "department/list": Route(GET, department_list),
}
