"""Share links and what their viewers did, for admins and salespeople (the `tracking` plan feature).

A `sales` key shares as its own employee and reads only its own: its shares, its figures, its hot customers, and
the timeline entries that came through its own shares. An admin or operator shares on an employee's behalf.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from chalice import BadRequestError, Blueprint, ForbiddenError, Response

from chalicelib.api.auth import AdminCall, admin_route
from chalicelib.api.schema import int_param, rule, str_param
from chalicelib.domain import wecom_ids
from chalicelib.domain.access import ADMIN, ADMINS, EVERYONE, OPERATOR, READERS, SALES, WRITERS, Principal
from chalicelib.domain.materials import MATERIAL_ID_PATTERN
from chalicelib.domain.plans import TRACKING

admin_tracking = Blueprint(__name__)

TAG = "tracking"
SHARERS = (ADMIN, OPERATOR, SALES)
CAMPAIGN_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
MAX_ORIGINS = 20
MAX_AUTO_TAGS = 20


@dataclass(frozen=True)
class CreateShare:
    material_id: str = field(metadata=rule(pattern=f"^{MATERIAL_ID_PATTERN.pattern.strip('^$')}$"))
    sharer: str | None = field(
        default=None, metadata=rule(pattern=wecom_ids.USERID, description="the employee (a sales key: itself)")
    )
    campaign: str | None = field(
        default=None, metadata=rule(pattern=CAMPAIGN_PATTERN, description="a mass message or channel id")
    )


@dataclass(frozen=True)
class RotateKeys:
    invalidate_old: bool = field(metadata=rule(description="drop older keys: every link signed with them stops"))


@dataclass(frozen=True)
class MaterialTracking:
    auto_tag_ids: list[str] = field(
        metadata=rule(max_items=MAX_AUTO_TAGS, pattern=wecom_ids.TAG_ID, description="tag identified viewers")
    )
    tracked: bool = field(
        default=False,
        metadata=rule(description="a link material: send it as a per-sender share link in mass and welcome messages"),
    )


@dataclass(frozen=True)
class Origins:
    origins: list[str] = field(
        metadata=rule(max_items=MAX_ORIGINS, pattern=r"^https://[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?$")
    )


def _sharer(principal: Principal, requested: str | None) -> str:
    """Who a share is made for: a sales key's own employee, or the employee an admin names."""
    if principal.is_sales:
        if requested not in (None, principal.employee_userid):
            raise ForbiddenError("a sales key shares as its own employee only")
        return principal.employee_userid or ""
    if not requested:
        raise BadRequestError("give 'sharer': the employee userid the link is credited to")
    return requested


def _own(principal: Principal, userid: str) -> str:
    from chalicelib.services import tracking_reports

    if principal.is_sales and userid != principal.employee_userid:
        raise ForbiddenError("a sales key sees its own figures only")
    return tracking_reports.known_employee(principal.tenant_id, userid)


@admin_route(
    admin_tracking,
    "/v1/shares",
    methods=["POST"],
    roles=SHARERS,
    summary="Create a tracked share link of a material (a sales key: as itself)",
    tag=TAG,
    body=CreateShare,
    feature=TRACKING,
    audit="share.create",
    success_status=201,
)
def create_share(call: AdminCall) -> Any:
    from chalicelib.services import share_links

    body: CreateShare = call.body
    sharer = _sharer(call.principal, body.sharer)
    share = share_links.share_material(call.principal.tenant_id, body.material_id, sharer, body.campaign or "")
    call.target = body.material_id
    return Response(share, status_code=201)


@admin_route(
    admin_tracking,
    "/v1/shares",
    methods=["GET"],
    roles=EVERYONE,
    summary="Share links, newest first (a sales key: its own)",
    tag=TAG,
    feature=TRACKING,
    query=(("sharer", "string", "one employee's"), ("limit", "integer", "1 to 100, default 50")),
)
def list_shares(call: AdminCall) -> dict[str, Any]:
    from chalicelib.store.tracking import TrackingStore

    limit = int_param(call.request, "limit", 50, 1, 100)
    sharer = str_param(call.request, "sharer", 64)
    if call.principal.is_sales:
        sharer = call.principal.employee_userid
    items = TrackingStore(call.principal.tenant_id).shares(sharer, limit)
    fields = ("url", "material_id", "sharer", "campaign", "created_ms")
    return {"shares": [{name: item.get(name, "") for name in fields} for item in items]}


@admin_route(
    admin_tracking,
    "/v1/shares/keys/rotate",
    methods=["POST"],
    roles=ADMINS,
    summary="Start signing share links with a new key; with invalidate_old, every older link stops working",
    tag=TAG,
    body=RotateKeys,
    feature=TRACKING,
    audit="share.keys.rotate",
)
def rotate_keys(call: AdminCall) -> dict[str, Any]:
    from chalicelib.services import share_links

    version = share_links.rotate_keys(call.principal.tenant_id, call.body.invalidate_old)
    return {"version": version, "old_links_valid": not call.body.invalidate_old}


@admin_route(
    admin_tracking,
    "/v1/materials/{material_id}/tracking",
    methods=["PUT"],
    roles=WRITERS,
    summary="Tag identified viewers of this material; send its link as a per-sender share link",
    tag=TAG,
    body=MaterialTracking,
    feature=TRACKING,
    audit="material.tracking",
)
def put_material_tracking(call: AdminCall, material_id: str) -> dict[str, Any]:
    from chalicelib.services.tracked_links import set_material_tracking

    return set_material_tracking(call.principal.tenant_id, material_id, call.body.auto_tag_ids, call.body.tracked)


@admin_route(
    admin_tracking,
    "/v1/tracking/origins",
    methods=["PUT"],
    roles=ADMINS,
    summary="The tenant's own web origins allowed to send beacons (besides the stack's)",
    tag=TAG,
    body=Origins,
    feature=TRACKING,
    audit="tracking.origins",
)
def put_origins(call: AdminCall) -> dict[str, Any]:
    from chalicelib.services.beacon_intake import forget_origins, origin_of
    from chalicelib.store.tracking import TrackingStore

    origins = [origin_of(o) for o in call.body.origins]
    TrackingStore(call.principal.tenant_id).put_origins(origins)
    forget_origins(call.principal.tenant_id)
    return {"origins": sorted(set(origins))}


@admin_route(
    admin_tracking,
    "/v1/customers/{customer_id}/timeline",
    methods=["GET"],
    roles=EVERYONE,
    summary="A customer's views (dwell, depth, actions, source share) and leads (a sales key: through its shares)",
    tag=TAG,
    feature=TRACKING,
)
def customer_timeline(call: AdminCall, customer_id: str) -> dict[str, Any]:
    from chalicelib.services import tracking_reports

    own = call.principal.employee_userid if call.principal.is_sales else None
    return {
        "customer_id": customer_id,
        "entries": tracking_reports.timeline(call.principal.tenant_id, customer_id, own),
    }


@admin_route(
    admin_tracking,
    "/v1/customers/{customer_id}/tracking",
    methods=["DELETE"],
    roles=ADMINS,
    summary="Delete a customer's tracking timeline (views and leads); anonymous counters stay",
    tag=TAG,
    feature=TRACKING,
    audit="customer.tracking.delete",
)
def forget_customer(call: AdminCall, customer_id: str) -> dict[str, Any]:
    from chalicelib.services import tracking_reports

    return {"deleted": tracking_reports.forget_customer(call.principal.tenant_id, customer_id)}


@admin_route(
    admin_tracking,
    "/v1/materials/{material_id}/stats",
    methods=["GET"],
    roles=READERS,
    summary="A material's opens, unique and identified viewers, average dwell, forwards and leads",
    tag=TAG,
    feature=TRACKING,
    query=(("days", "integer", "1 to 400, default 30"),),
)
def material_stats(call: AdminCall, material_id: str) -> dict[str, Any]:
    from chalicelib.services import tracking_reports

    days = int_param(call.request, "days", 30, 1, 400)
    return tracking_reports.material_stats(call.principal.tenant_id, material_id, days, time.time())


@admin_route(
    admin_tracking,
    "/v1/sales/{userid}/stats",
    methods=["GET"],
    roles=EVERYONE,
    summary="A salesperson's shares, opens, identified viewers, leads and alerts by day, week and month",
    tag=TAG,
    feature=TRACKING,
)
def sales_stats(call: AdminCall, userid: str) -> dict[str, Any]:
    from chalicelib.services import tracking_reports

    return tracking_reports.sales_stats(call.principal.tenant_id, _own(call.principal, userid), time.time())


@admin_route(
    admin_tracking,
    "/v1/sales/{userid}/hot-customers",
    methods=["GET"],
    roles=EVERYONE,
    summary="A salesperson's customers who opened their shares twice or more in 7 days",
    tag=TAG,
    feature=TRACKING,
)
def hot_customers(call: AdminCall, userid: str) -> dict[str, Any]:
    from chalicelib.services import tracking_reports

    hot = tracking_reports.hot_customers(call.principal.tenant_id, _own(call.principal, userid), time.time())
    return {"userid": userid, "customers": hot}
