"""Corp tags: get_corp_tag_list, add_corp_tag, edit_corp_tag, del_corp_tag."""

from __future__ import annotations

from local.wecom_sim import errors
from local.wecom_sim.errors import WeComError
from local.wecom_sim.models import Tag, TagGroup

from .common import POST, Call, Route, integer, string_list, text


def _tag(tag: Tag) -> dict:
    return {"id": tag.id, "name": tag.name, "create_time": tag.create_time, "order": tag.order, "deleted": False}


def group_view(group: TagGroup, tags: list[Tag] | None = None) -> dict:
    return {
        "group_id": group.group_id,
        "group_name": group.group_name,
        "create_time": group.create_time,
        "order": group.order,
        "deleted": False,
        "tag": [_tag(t) for t in (group.tags.values() if tags is None else tags)],
    }


def get_corp_tag_list(call: Call) -> dict:
    book = call.company.tags
    tag_ids = string_list(call.body, "tag_id", 3000)
    group_ids = string_list(call.body, "group_id", 3000)
    if group_ids:
        return {"tag_group": [group_view(book.groups[g]) for g in group_ids if g in book.groups]}
    if tag_ids:
        wanted = [book.tags[t] for t in tag_ids if t in book.tags]
        return {
            "tag_group": [
                group_view(group, [t for t in wanted if t.group_id == group.group_id])
                for group in book.groups.values()
                if any(t.group_id == group.group_id for t in wanted)
            ]
        }
    return {"tag_group": [group_view(group) for group in book.groups.values()]}


def add_corp_tag(call: Call) -> dict:
    body = call.body
    tags = body.get("tag")
    if not isinstance(tags, list) or not all(isinstance(t, dict) for t in tags):
        raise WeComError(errors.INVALID_PARAMETER, "tag must be a list of objects")
    group_id = text(body, "group_id", required=False)
    group_name = text(body, "group_name", required=False)
    if not group_id and not group_name:
        raise WeComError(errors.INVALID_PARAMETER, "group_id or group_name required")
    pairs = [(t.get("name", ""), integer(t, "order", 0)) for t in tags]
    group = call.company.tags.add(group_id, group_name, integer(body, "order", 0), pairs, int(call.now))
    return {"tag_group": group_view(group)}


def edit_corp_tag(call: Call) -> dict:
    item_id = text(call.body, "id", errors.INVALID_TAG_ID)
    name = call.body.get("name")
    order = integer(call.body, "order") if "order" in call.body else None
    call.company.tags.edit(item_id, name, order)
    return {}


def del_corp_tag(call: Call) -> dict:
    tag_ids = string_list(call.body, "tag_id", 3000)
    group_ids = string_list(call.body, "group_id", 3000)
    if not tag_ids and not group_ids:
        raise WeComError(errors.INVALID_PARAMETER, "tag_id and group_id are both empty")
    deleted = set(call.company.tags.delete(tag_ids, group_ids))
    for follows in call.company.book.by_user.values():
        for follow in follows.values():
            if follow.tag_ids and deleted.intersection(follow.tag_ids):
                follow.tag_ids = [t for t in follow.tag_ids if t not in deleted]
    return {}


ROUTES = {
    "externalcontact/get_corp_tag_list": Route(POST, get_corp_tag_list),
    "externalcontact/add_corp_tag": Route(POST, add_corp_tag),
    "externalcontact/edit_corp_tag": Route(POST, edit_corp_tag),
    "externalcontact/del_corp_tag": Route(POST, del_corp_tag),
}
