"""change_external_tag: keep the tenant's tag catalogue as WeCom has it.

Create, update and shuffle re-read the tag (or its group, or the whole catalogue for a shuffle without a group) with
get_corp_tag_list and merge that into the stored catalogue; delete drops the tag or group. Reading WeCom's current
state makes the order of delivery irrelevant.
"""

from __future__ import annotations

from typing import Any

from chalicelib.domain.tag_catalogue import CatalogueTag, catalogue_from
from chalicelib.services.tenant_context import TenantContext
from chalicelib.wecom.events import ExternalTagEvent

TAG_LIST_API = "externalcontact/get_corp_tag_list"
TAG, TAG_GROUP = "tag", "tag_group"


def merge_catalogue(
    stored: list[CatalogueTag], event: ExternalTagEvent, fresh: list[CatalogueTag] | None
) -> list[CatalogueTag]:
    """The catalogue after the event: `fresh` is what WeCom listed for the event's scope (None for a delete)."""
    is_group = event.tag_type == TAG_GROUP or (event.change_type == "shuffle" and bool(event.tag_id))
    if event.change_type == "shuffle" and not event.tag_id:
        return list(fresh or [])
    if is_group:
        kept = [t for t in stored if t.group_id != event.tag_id]
    else:
        kept = [t for t in stored if t.tag_id != event.tag_id]
    if fresh is None:
        return kept
    fresh_ids = {t.tag_id for t in fresh}
    return [t for t in kept if t.tag_id not in fresh_ids] + fresh


def _identity(tag: CatalogueTag) -> tuple[str, str]:
    return tag.group_id, tag.tag_id


def apply_tag_event(ctx: TenantContext, event: ExternalTagEvent) -> bool:
    """Bring the stored catalogue in line with WeCom for this event; False when nothing changed."""
    stored = ctx.customers.list_tags()
    fresh = None
    if event.change_type != "delete":
        if event.change_type == "shuffle" and not event.tag_id:
            query: dict[str, Any] = {}
        elif event.tag_type == TAG:
            query = {"tag_id": [event.tag_id]}
        else:
            query = {"group_id": [event.tag_id]}
        fresh = catalogue_from(ctx.wecom.post(TAG_LIST_API, query, retry_safe=True))
    merged = merge_catalogue(stored, event, fresh)
    if sorted(merged, key=_identity) == sorted(stored, key=_identity):
        return False
    ctx.customers.put_tag_catalogue(merged)
    return True
