"""The corp tag catalogue: list, create, rename, reorder and delete tags and tag groups.

Every change goes to WeCom (add_corp_tag / edit_corp_tag / del_corp_tag) and then the catalogue is read back from WeCom
(one get_corp_tag_list) into our store, so the store holds WeCom's ids, orders and names exactly. WeCom's limit of
CORP_TAGS_MAX tags is checked before calling (and WeCom's 40126 answers the same 409). Creating is not retried once
the request may have left (a second call could create the tags twice); the others are idempotent.
Deleting a tag removes it from customers in WeCom at once; our relations drop it at the next sync.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chalice import BadRequestError, Blueprint, ConflictError, NotFoundError, Response

from chalicelib.api.auth import AdminCall, admin_route
from chalicelib.api.schema import ONE_LINE, rule
from chalicelib.domain import wecom_ids
from chalicelib.domain.access import READERS, WRITERS
from chalicelib.domain.wecom_limits import CORP_TAGS_MAX

if TYPE_CHECKING:
    from chalicelib.domain.tag_catalogue import CatalogueTag

admin_tags = Blueprint(__name__)

TAG_NAME_MAX_CHARS = 30
MAX_TAGS_PER_CREATE = 100
ORDER_MAX = 2**32 - 1


@dataclass(frozen=True)
class CreateTags:
    tags: list[str] = field(
        metadata=rule(max_items=MAX_TAGS_PER_CREATE, min_length=1, max_length=TAG_NAME_MAX_CHARS, pattern=ONE_LINE)
    )
    group_id: str | None = field(default=None, metadata=rule(pattern=wecom_ids.TAG_ID, description="add to this group"))
    group_name: str | None = field(
        default=None,
        metadata=rule(
            min_length=1, max_length=TAG_NAME_MAX_CHARS, pattern=ONE_LINE, description="or create this group"
        ),
    )
    group_order: int | None = field(default=None, metadata=rule(minimum=0, maximum=ORDER_MAX))


@dataclass(frozen=True)
class EditTag:
    name: str | None = field(default=None, metadata=rule(min_length=1, max_length=TAG_NAME_MAX_CHARS, pattern=ONE_LINE))
    order: int | None = field(default=None, metadata=rule(minimum=0, maximum=ORDER_MAX, description="larger first"))


def catalogue_view(tags: Iterable[CatalogueTag]) -> list[dict[str, Any]]:
    groups: dict[str, dict[str, Any]] = {}
    for t in tags:
        group = groups.setdefault(
            t.group_id, {"group_id": t.group_id, "group_name": t.group_name, "order": t.group_order, "tags": []}
        )
        group["tags"].append({"tag_id": t.tag_id, "name": t.name, "order": t.order})
    return list(groups.values())


def reload_catalogue(tenant_id: str, wecom: Any) -> list[CatalogueTag]:
    """Read the catalogue back from WeCom and store it as is."""
    from chalicelib.domain.tag_catalogue import catalogue_from
    from chalicelib.store.customers import CustomerStore

    tags = catalogue_from(wecom.post("externalcontact/get_corp_tag_list", {}, retry_safe=True))
    CustomerStore(tenant_id).put_tag_catalogue(tags)
    return tags


@admin_route(admin_tags, "/v1/tags", methods=["GET"], roles=READERS, summary="The corp tag catalogue", tag="tags")
def list_tags(call: AdminCall) -> dict[str, Any]:
    from chalicelib.store.customers import CustomerStore

    tags = CustomerStore(call.principal.tenant_id).list_tags()
    return {"groups": catalogue_view(tags), "count": len(tags), "limit": CORP_TAGS_MAX}


@admin_route(
    admin_tags,
    "/v1/tags",
    methods=["POST"],
    roles=WRITERS,
    summary="Create tags, in an existing group (group_id) or a new one (group_name)",
    tag="tags",
    body=CreateTags,
    audit="tag.create",
    success_status=201,
)
def create_tags(call: AdminCall) -> Response:
    from chalicelib.services.tenant_wecom import tenant_wecom
    from chalicelib.store.customers import CustomerStore

    body: CreateTags = call.body
    if bool(body.group_id) == bool(body.group_name):
        raise BadRequestError("give exactly one of group_id (an existing group) and group_name (a new group)")
    if not body.tags or len(set(body.tags)) != len(body.tags):
        raise BadRequestError("tags: give distinct names")
    tenant_id = call.principal.tenant_id
    existing = CustomerStore(tenant_id).list_tags()
    if body.group_id and body.group_id not in {t.group_id for t in existing}:
        raise NotFoundError("no such tag group")
    if len(existing) + len(body.tags) > CORP_TAGS_MAX:
        raise ConflictError(
            f"WeCom allows at most {CORP_TAGS_MAX} corp tags per company; {len(existing)} exist, so at most "
            f"{max(0, CORP_TAGS_MAX - len(existing))} more can be created"
        )
    payload: dict[str, Any] = {"tag": [{"name": name} for name in body.tags]}
    payload |= {"group_id": body.group_id} if body.group_id else {"group_name": body.group_name}
    if body.group_order is not None:
        payload["order"] = body.group_order
    wecom = tenant_wecom(tenant_id)
    created = wecom.post("externalcontact/add_corp_tag", payload, retry_safe=False).get("tag_group", {})
    reload_catalogue(tenant_id, wecom)
    call.target = str(created.get("group_id", ""))
    group = {
        "group_id": created.get("group_id"),
        "group_name": created.get("group_name"),
        "tags": [{"tag_id": t["id"], "name": t["name"], "order": t.get("order", 0)} for t in created.get("tag", [])],
    }
    return Response({"group": group}, status_code=201)


def _edit(call: AdminCall, item_id: str, is_group: bool) -> dict[str, Any]:
    from chalicelib.services.tenant_wecom import tenant_wecom
    from chalicelib.store.customers import CustomerStore

    body: EditTag = call.body
    if body.name is None and body.order is None:
        raise BadRequestError("give name or order")
    tenant_id = call.principal.tenant_id
    tags = CustomerStore(tenant_id).list_tags()
    if item_id not in {t.group_id if is_group else t.tag_id for t in tags}:
        raise NotFoundError("no such tag group" if is_group else "no such tag")
    payload: dict[str, Any] = {"id": item_id}
    payload |= {k: v for k, v in (("name", body.name), ("order", body.order)) if v is not None}
    wecom = tenant_wecom(tenant_id)
    wecom.post("externalcontact/edit_corp_tag", payload, retry_safe=True)
    call.target = item_id
    return {"groups": catalogue_view(reload_catalogue(tenant_id, wecom))}


def _delete(call: AdminCall, item_id: str, is_group: bool) -> dict[str, Any]:
    from chalicelib.services.tenant_wecom import tenant_wecom
    from chalicelib.store.customers import CustomerStore

    tenant_id = call.principal.tenant_id
    tags = CustomerStore(tenant_id).list_tags()
    if item_id not in {t.group_id if is_group else t.tag_id for t in tags}:
        raise NotFoundError("no such tag group" if is_group else "no such tag")
    wecom = tenant_wecom(tenant_id)
    wecom.post("externalcontact/del_corp_tag", {"group_id" if is_group else "tag_id": [item_id]}, retry_safe=True)
    call.target = item_id
    return {"groups": catalogue_view(reload_catalogue(tenant_id, wecom))}


@admin_route(
    admin_tags,
    "/v1/tags/{tag_id}",
    methods=["PATCH"],
    roles=WRITERS,
    summary="Rename or reorder a tag",
    tag="tags",
    body=EditTag,
    audit="tag.edit",
)
def edit_tag(call: AdminCall, tag_id: str) -> dict[str, Any]:
    return _edit(call, tag_id, is_group=False)


@admin_route(
    admin_tags,
    "/v1/tags/{tag_id}",
    methods=["DELETE"],
    roles=WRITERS,
    summary="Delete a tag",
    tag="tags",
    audit="tag.delete",
)
def delete_tag(call: AdminCall, tag_id: str) -> dict[str, Any]:
    return _delete(call, tag_id, is_group=False)


@admin_route(
    admin_tags,
    "/v1/tag-groups/{group_id}",
    methods=["PATCH"],
    roles=WRITERS,
    summary="Rename or reorder a tag group",
    tag="tags",
    body=EditTag,
    audit="tag_group.edit",
)
def edit_tag_group(call: AdminCall, group_id: str) -> dict[str, Any]:
    return _edit(call, group_id, is_group=True)


@admin_route(
    admin_tags,
    "/v1/tag-groups/{group_id}",
    methods=["DELETE"],
    roles=WRITERS,
    summary="Delete a tag group and its tags",
    tag="tags",
    audit="tag_group.delete",
)
def delete_tag_group(call: AdminCall, group_id: str) -> dict[str, Any]:
    return _delete(call, group_id, is_group=True)
