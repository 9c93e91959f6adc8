"""Customers for a tenant's admins and sales staff: filtered pages, one customer in full, tags and remarks.

Listing is a Query of one index (see `domain.customer_listing`), never a Scan. Tag and remark changes are written to
WeCom first (mark_tag / remark, both idempotent) and then to our store in the same request, since WeCom sends no
callback for changes made through its API; repeating a request gives the same result. A sales key sees and edits only
its own employee's relations.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from chalice import BadRequestError, Blueprint, NotFoundError

from chalicelib.api.auth import AdminCall, admin_route
from chalicelib.api.schema import int_param, rule, str_param
from chalicelib.domain import wecom_ids
from chalicelib.domain.access import ADMIN, EVERYONE, OPERATOR, SALES, Principal, visible_employee
from chalicelib.domain.wecom_limits import DESCRIPTION_MAX_CHARS, REMARK_MAX_CHARS
from chalicelib.store.dynamo import InvalidCursor

if TYPE_CHECKING:
    from chalicelib.domain.customer_listing import CustomerFilter
    from chalicelib.store.customer_directory import CustomerDirectory
    from chalicelib.store.customers import CustomerStore
    from chalicelib.store.relations import FollowRelation

admin_customers = Blueprint(__name__)

EDITORS: tuple[str, ...] = (ADMIN, OPERATOR, SALES)
MAX_TAGS_PER_CHANGE = 100
LIST_QUERY = (
    ("tag", "string", "tag ids, comma-separated"),
    ("tag_match", "string", "any (default), all or none of the tags"),
    ("employee", "string", "employee userids, comma-separated (a sales key always sees its own)"),
    ("department", "integer", "a department id: its employees and those of its sub-departments"),
    ("state", "string", "the channel (State) the customer was added through"),
    ("added_from", "integer", "relation added at or after (epoch seconds)"),
    ("added_to", "integer", "relation added at or before (epoch seconds)"),
    ("lost", "string", "false (default): active relations; true: lost ones; any: both"),
    ("name_prefix", "string", "customer name starts with (case-insensitive)"),
    ("remark_prefix", "string", "the employee's remark starts with (case-insensitive)"),
    ("limit", "integer", "1 to 100, default 50"),
    ("cursor", "string", "next_cursor of the previous page"),
)
EPOCH_MAX = 4_102_444_800


@dataclass(frozen=True)
class ChangeTags:
    add: list[str] = field(default_factory=list, metadata=rule(max_items=MAX_TAGS_PER_CHANGE, pattern=wecom_ids.TAG_ID))
    remove: list[str] = field(
        default_factory=list, metadata=rule(max_items=MAX_TAGS_PER_CHANGE, pattern=wecom_ids.TAG_ID)
    )
    userid: str | None = field(
        default=None, metadata=rule(pattern=wecom_ids.USERID, description="whose relation (a sales key: its own)")
    )


@dataclass(frozen=True)
class EditRemark:
    remark: str | None = field(default=None, metadata=rule(max_length=REMARK_MAX_CHARS))
    description: str | None = field(default=None, metadata=rule(max_length=DESCRIPTION_MAX_CHARS))
    userid: str | None = field(
        default=None, metadata=rule(pattern=wecom_ids.USERID, description="whose relation (a sales key: its own)")
    )


def _csv(call: AdminCall, name: str, pattern: str) -> frozenset[str]:
    """A comma-separated query parameter of ids, each of `pattern`'s shape (they become key parts), or 400."""
    raw = str_param(call.request, name, 2048) or ""
    ids = frozenset(part.strip() for part in raw.split(",") if part.strip())
    if not all(wecom_ids.has_shape(pattern, i) for i in ids):
        raise BadRequestError(f"query parameter '{name}' must be comma-separated ids matching {pattern}")
    return ids


def _employees(call: AdminCall, directory: CustomerDirectory) -> frozenset[str] | None:
    """The employees the listing is narrowed to: asked for by userid or department; a sales key's own, always."""
    own = visible_employee(call.principal, None)
    if own is not None:
        return frozenset({own})
    named = _csv(call, "employee", wecom_ids.USERID)
    department = (call.request.query_params or {}).get("department")
    if department is None:
        return named or None
    dept_id = int_param(call.request, "department", 0, 0, 2**31 - 1)
    departments = directory.store.list_departments()
    inside = {dept_id}
    grew = True
    while grew:
        more = {d.id for d in departments if d.parent_id in inside} - inside
        inside |= more
        grew = bool(more)
    members = {e.userid for e in directory.store.list_employees() if inside & set(e.department_ids)}
    return frozenset(members & named if named else members)


def _epoch(call: AdminCall, name: str) -> int | None:
    raw = (call.request.query_params or {}).get(name)
    if raw is None:
        return None
    if not re.fullmatch(r"\d{1,10}", raw) or int(raw) > EPOCH_MAX:
        raise BadRequestError(f"query parameter '{name}' must be epoch seconds from 0 to {EPOCH_MAX}")
    return int(raw)


def _lost(call: AdminCall) -> bool | None:
    value = str_param(call.request, "lost", 8) or "false"
    if value not in ("true", "false", "any"):
        raise BadRequestError("query parameter 'lost' must be true, false or any")
    return None if value == "any" else value == "true"


def _filter(call: AdminCall, directory: CustomerDirectory) -> CustomerFilter:
    from chalicelib.domain.customer_listing import CustomerFilter, InvalidListing, TagMode

    params = call.request.query_params or {}
    mode = params.get("tag_match", TagMode.ANY.value)
    if mode not in {m.value for m in TagMode}:
        raise BadRequestError("query parameter 'tag_match' must be any, all or none")
    listing = CustomerFilter(
        tags=_csv(call, "tag", wecom_ids.TAG_ID),
        tag_mode=TagMode(mode),
        employees=_employees(call, directory),
        state=str_param(call.request, "state", 64),
        added_from=_epoch(call, "added_from"),
        added_to=_epoch(call, "added_to"),
        lost=_lost(call),
        name_prefix=str_param(call.request, "name_prefix", 64) or "",
        remark_prefix=str_param(call.request, "remark_prefix", 64) or "",
    )
    try:
        listing.validate()
    except InvalidListing as error:
        raise BadRequestError(str(error)) from None
    return listing


def relation_view(relation: FollowRelation, name: str) -> dict[str, Any]:
    return {
        "external_userid": relation.external_userid,
        "name": name,
        "userid": relation.userid,
        "remark": relation.remark,
        "description": relation.description,
        "tags": sorted(relation.tag_ids),
        "state": relation.state,
        "added_at": relation.createtime,
        "status": relation.status,
        "lost_at": relation.lost_at,
        "lost_by": relation.lost_by or None,
    }


@admin_route(
    admin_customers,
    "/v1/customers",
    methods=["GET"],
    roles=EVERYONE,
    summary="Customers (one row per follow relation), filtered server-side",
    tag="customers",
    query=LIST_QUERY,
)
def list_customers(call: AdminCall) -> dict[str, Any]:
    from chalicelib.store.customer_directory import CustomerDirectory

    directory = CustomerDirectory(call.principal.tenant_id)
    listing = _filter(call, directory)
    limit = int_param(call.request, "limit", 50, 1, 100)
    try:
        page = directory.list_relations(listing, limit, str_param(call.request, "cursor", 4096))
    except InvalidCursor:
        raise BadRequestError("invalid cursor (it belongs to another filter, or was not handed out)") from None
    return {"customers": [relation_view(r, name) for r, name in page.rows], "next_cursor": page.cursor}


def _timeline(relations: list[FollowRelation], customer_events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Added and lost per relation, and what the customer did (comments and likes on moments) through them."""
    events = [{"at": r.createtime, "what": "added", "userid": r.userid, "state": r.state or None} for r in relations]
    followers = {r.userid for r in relations}
    events += [e for e in customer_events if e["userid"] in followers]
    events += [
        {"at": r.lost_at, "what": "lost", "userid": r.userid, "by": r.lost_by or None}
        for r in relations
        if r.lost_at is not None
    ]
    return sorted(events, key=lambda e: (e["at"], e["userid"]))


def _visible_relations(principal: Principal, store: CustomerStore, customer_id: str) -> list[FollowRelation]:
    """The customer's relations the caller may see; 404 when there are none (unknown, or not the sales key's)."""
    own = visible_employee(principal, None)
    relations = [r for r in store.get_follows(customer_id) if own is None or r.userid == own]
    if not relations:
        raise NotFoundError("no such customer")
    return relations


@admin_route(
    admin_customers,
    "/v1/customers/{customer_id}",
    methods=["GET"],
    roles=EVERYONE,
    summary="One customer: profile, every follow relation with tags, remarks, channel, lost history, timeline",
    tag="customers",
)
def get_customer(call: AdminCall, customer_id: str) -> dict[str, Any]:
    from chalicelib.store.customers import CustomerStore
    from chalicelib.store.moments import MomentStore

    store = CustomerStore(call.principal.tenant_id)
    relations = _visible_relations(call.principal, store, customer_id)
    profile = store.get_profile(customer_id)
    tags = {t.tag_id: t for t in store.list_tags()}
    name = profile.name if profile else ""
    return {
        "customer": {
            "external_userid": customer_id,
            "name": name,
            "type": profile.type if profile else None,
            "gender": profile.gender if profile else None,
            "corp_name": (profile.corp_name or None) if profile else None,
            "avatar": (profile.avatar or None) if profile else None,
        },
        "relations": [
            {
                **relation_view(r, name),
                "tag_names": [
                    {"tag_id": t, "name": tags[t].name, "group_name": tags[t].group_name}
                    for t in sorted(r.tag_ids)
                    if t in tags
                ],
                "remark_mobiles": list(r.remark_mobiles),
                "add_way": r.add_way,
            }
            for r in sorted(relations, key=lambda r: r.createtime)
        ],
        "timeline": _timeline(
            relations, [e.as_dict() for e in MomentStore(call.principal.tenant_id).customer_events(customer_id)]
        ),
    }


def _editable(call: AdminCall, store: CustomerStore, customer_id: str, userid: str | None) -> FollowRelation:
    """The active relation a write is about: the sales key's own, or the one named (or the only one)."""
    relations = [r for r in _visible_relations(call.principal, store, customer_id) if r.active]
    chosen = visible_employee(call.principal, userid)
    if chosen is not None:
        relations = [r for r in relations if r.userid == chosen]
    if not relations:
        raise NotFoundError("no active relation of this customer with that employee")
    if len(relations) > 1:
        raise BadRequestError("the customer has several employees: give userid")
    return relations[0]


def _store_change(call: AdminCall, before: FollowRelation, after: FollowRelation) -> dict[str, Any]:
    """Write WeCom's accepted change to our store (event time now, never behind what is stored) and the find items."""
    from chalicelib.store.customer_directory import CustomerDirectory
    from chalicelib.store.customers import CustomerStore

    tenant_id = call.principal.tenant_id
    store = CustomerStore(tenant_id)
    changed = replace(after, event_time=max(int(time.time()), before.event_time))
    store.apply_follow(changed)
    directory = CustomerDirectory(tenant_id)
    directory.refresh(before.external_userid)
    profile = store.get_profile(before.external_userid)
    call.target = f"{before.external_userid}/{before.userid}"
    return {"relation": relation_view(changed, profile.name if profile else "")}


@admin_route(
    admin_customers,
    "/v1/customers/{customer_id}/tags",
    methods=["POST"],
    roles=EDITORS,
    summary="Mark and unmark corp tags on a customer (WeCom mark_tag, then our store)",
    tag="customers",
    body=ChangeTags,
    audit="customer.tags",
)
def change_tags(call: AdminCall, customer_id: str) -> dict[str, Any]:
    from chalicelib.services.tenant_wecom import tenant_wecom
    from chalicelib.store.customers import CustomerStore

    body: ChangeTags = call.body
    store = CustomerStore(call.principal.tenant_id)
    relation = _editable(call, store, customer_id, body.userid)
    add, remove = set(body.add), set(body.remove)
    if not add and not remove:
        raise BadRequestError("give tags to add or remove")
    if add & remove:
        raise BadRequestError(f"tags both added and removed: {sorted(add & remove)}")
    unknown = (add | remove) - {t.tag_id for t in store.list_tags()}
    if unknown:
        raise BadRequestError(f"unknown tag ids (not in the corp's tag catalogue): {sorted(unknown)}")
    payload = {"userid": relation.userid, "external_userid": customer_id}
    payload |= {"add_tag": sorted(add), "remove_tag": sorted(remove)}
    tenant_wecom(call.principal.tenant_id).post("externalcontact/mark_tag", payload, retry_safe=True)
    return _store_change(call, relation, replace(relation, tag_ids=frozenset((relation.tag_ids | add) - remove)))


@admin_route(
    admin_customers,
    "/v1/customers/{customer_id}/remark",
    methods=["PATCH"],
    roles=EDITORS,
    summary="Edit an employee's remark and description of a customer (WeCom remark, then our store)",
    tag="customers",
    body=EditRemark,
    audit="customer.remark",
)
def edit_remark(call: AdminCall, customer_id: str) -> dict[str, Any]:
    from chalicelib.services.tenant_wecom import tenant_wecom
    from chalicelib.store.customers import CustomerStore

    body: EditRemark = call.body
    if body.remark is None and body.description is None:
        raise BadRequestError("give remark or description")
    store = CustomerStore(call.principal.tenant_id)
    relation = _editable(call, store, customer_id, body.userid)
    payload: dict[str, Any] = {"userid": relation.userid, "external_userid": customer_id}
    payload |= {k: v for k, v in (("remark", body.remark), ("description", body.description)) if v is not None}
    tenant_wecom(call.principal.tenant_id).post("externalcontact/remark", payload, retry_safe=True)
    changed = replace(
        relation,
        remark=relation.remark if body.remark is None else body.remark,
        description=relation.description if body.description is None else body.description,
    )
    return _store_change(call, relation, changed)
