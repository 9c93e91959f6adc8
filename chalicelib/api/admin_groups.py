"""Customer group chats for a tenant's admins (`/v1/groups`): the group sync, listings by owner, owners' department,
status and name prefix, one group with its members (customers linked to their profile), and daily join/quit
figures per group and per owner. A sales key sees only the groups it owns.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from chalice import BadRequestError, Blueprint, ConflictError, NotFoundError, Response

from chalicelib.api.auth import AdminCall, admin_route
from chalicelib.api.schema import int_param, str_param
from chalicelib.domain.access import ADMINS, EVERYONE
from chalicelib.store.dynamo import InvalidCursor

admin_groups = Blueprint(__name__)
TAG = "groups"
FIGURE_QUERY = (
    ("from", "string", "first day, YYYY-MM-DD (default: 29 days before `to`)"),
    ("to", "string", "last day, YYYY-MM-DD (default: today, Asia/Shanghai)"),
)


@admin_route(
    admin_groups,
    "/v1/groups/sync",
    methods=["POST"],
    roles=ADMINS,
    summary="Load every customer group chat and its members from WeCom now (202; one run at a time)",
    tag=TAG,
    audit="groups.sync",
    success_status=202,
)
def start_group_sync(call: AdminCall) -> Response:
    from chalicelib.services.group_sync import request_group_sync
    from chalicelib.store.sync_runs import SyncRunning

    try:
        run = request_group_sync(call.principal.tenant_id, trigger=f"admin:{call.principal.key_id}")
    except SyncRunning as running:
        raise ConflictError(f"group sync {running.run.run_id} is {running.run.status}; wait for it") from None
    call.target = run.run_id
    return Response({"run": run.as_dict()}, status_code=202)


@admin_route(
    admin_groups, "/v1/groups/sync", methods=["GET"], roles=ADMINS, summary="The current (or last) group sync", tag=TAG
)
def get_group_sync(call: AdminCall) -> dict[str, Any]:
    from chalicelib.store.sync_runs import GROUP_RUN, SyncRuns

    run = SyncRuns(call.principal.tenant_id, kind=GROUP_RUN).current()
    return {"run": run.as_dict() if run else None}


@admin_route(
    admin_groups,
    "/v1/groups",
    methods=["GET"],
    roles=EVERYONE,
    summary="Customer group chats by name: of an owner, of the owners of a department, or all",
    tag=TAG,
    query=(
        ("owner", "string", "the owner's userid (live groups)"),
        ("department", "integer", "groups owned by members of this department (live groups)"),
        ("status", "string", "live, dismissed, waiting, inheriting or inherited"),
        ("name_prefix", "string", "groups whose name begins with this"),
        ("limit", "integer", "1 to 100, default 50"),
        ("cursor", "string", "next_cursor of the previous page"),
    ),
)
def get_groups(call: AdminCall) -> dict[str, Any]:
    from chalicelib.services.group_queries import STATUSES, GroupFilter, list_groups

    request = call.request
    status = str_param(request, "status", 16) or ""
    if status and status not in STATUSES:
        raise BadRequestError(f"query parameter 'status' must be one of {', '.join(STATUSES)}")
    owner = str_param(request, "owner", 64) or ""
    if call.principal.is_sales:
        owner = call.principal.employee_userid or ""
    department = int_param(request, "department", 0, 0, 2**31 - 1)
    if owner and department:
        raise BadRequestError("give owner or department, not both")
    f = GroupFilter(owner, department, status, str_param(request, "name_prefix", 100) or "")
    try:
        return list_groups(
            call.principal.tenant_id, f, int_param(request, "limit", 50, 1, 100), str_param(request, "cursor", 2048)
        )
    except InvalidCursor:
        raise BadRequestError("invalid cursor") from None


@admin_route(
    admin_groups,
    "/v1/groups/{chat_id}",
    methods=["GET"],
    roles=EVERYONE,
    summary="One customer group chat with its members (customers linked to their profile)",
    tag=TAG,
)
def get_group(call: AdminCall, chat_id: str) -> dict[str, Any]:
    from chalicelib.services.group_queries import GroupNotFound, group_detail

    try:
        detail = group_detail(call.principal.tenant_id, chat_id)
    except GroupNotFound:
        raise NotFoundError("no such group chat") from None
    if call.principal.is_sales and detail["group"]["owner"] != call.principal.employee_userid:
        raise NotFoundError("no such group chat")
    return detail


def _days(call: AdminCall) -> tuple[str, str]:
    from chalicelib.domain.group_chats import FIGURES_TIMEZONE
    from chalicelib.services.group_queries import day_range

    today = datetime.fromtimestamp(time.time(), UTC).astimezone(FIGURES_TIMEZONE).date()
    try:
        return day_range(str_param(call.request, "from", 10), str_param(call.request, "to", 10), today)
    except ValueError as error:
        raise BadRequestError(str(error)) from None


@admin_route(
    admin_groups,
    "/v1/groups/{chat_id}/figures",
    methods=["GET"],
    roles=EVERYONE,
    summary="Customers who joined and quit a group, per day",
    tag=TAG,
    query=FIGURE_QUERY,
)
def get_group_figures(call: AdminCall, chat_id: str) -> dict[str, Any]:
    from chalicelib.services.group_queries import GroupNotFound, chat_figures

    first, last = _days(call)
    owner = (call.principal.employee_userid or "") if call.principal.is_sales else ""
    try:
        return chat_figures(call.principal.tenant_id, chat_id, first, last, owner)
    except GroupNotFound:
        raise NotFoundError("no such group chat") from None


@admin_route(
    admin_groups,
    "/v1/group-owners/{userid}/figures",
    methods=["GET"],
    roles=EVERYONE,
    summary="Customers who joined and quit the groups an employee owns, per day",
    tag=TAG,
    query=FIGURE_QUERY,
)
def get_owner_figures(call: AdminCall, userid: str) -> dict[str, Any]:
    from chalicelib.services.group_queries import owner_figures

    first, last = _days(call)
    if call.principal.is_sales and userid != call.principal.employee_userid:
        raise NotFoundError("no such employee")
    try:
        return owner_figures(call.principal.tenant_id, userid, first, last)
    except LookupError:
        raise NotFoundError("no such employee") from None
