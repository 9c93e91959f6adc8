"""Corp tags (企业客户标签): groups of tags with WeCom's 3000-tag ceiling."""

from __future__ import annotations

import random

from . import errors, ids
from .errors import WeComError
from .models import Tag, TagGroup

MAX_CORP_TAGS = 3000
MAX_TAG_NAME_CHARS = 30


class TagBook:
    """Tag groups and an index of tags by id."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self.groups: dict[str, TagGroup] = {}
        self.tags: dict[str, Tag] = {}

    def group_by_name(self, name: str) -> TagGroup | None:
        return next((g for g in self.groups.values() if g.group_name == name), None)

    def add(self, group_id: str, group_name: str, group_order: int, tags: list[tuple[str, int]], now: int) -> TagGroup:
        """Add tags to an existing group (``group_id``) or to a group found or created by name."""
        if not tags:
            raise WeComError(errors.INVALID_PARAMETER, "tag list is empty")
        for name, _ in tags:
            check_name(name)
        if len(self.tags) + len(tags) > MAX_CORP_TAGS:
            raise WeComError(errors.TAG_LIMIT)
        if group_id:
            group = self.groups.get(group_id)
            if group is None:
                raise WeComError(errors.INVALID_TAG_ID, "group_id not found")
        else:
            check_name(group_name)
            group = self.group_by_name(group_name)
            if group is None:
                group = TagGroup(ids.tag_id(self._rng), group_name, now, group_order)
                self.groups[group.group_id] = group
        existing = {t.name for t in group.tags.values()}
        names = [name for name, _ in tags]
        if len(set(names)) != len(names) or existing.intersection(names):
            raise WeComError(errors.TAG_NAME_EXISTS)
        added = TagGroup(group.group_id, group.group_name, group.create_time, group.order)
        for name, order in tags:
            tag = Tag(ids.tag_id(self._rng), name, now, order, group.group_id)
            group.tags[tag.id] = tag
            self.tags[tag.id] = tag
            added.tags[tag.id] = tag
        return added

    def edit(self, item_id: str, name: str | None, order: int | None) -> None:
        """Rename or reorder a tag or a group."""
        if name is not None:
            check_name(name)
        if item_id in self.groups:
            group = self.groups[item_id]
            if name is not None:
                other = self.group_by_name(name)
                if other is not None and other is not group:
                    raise WeComError(errors.TAG_NAME_EXISTS)
                group.group_name = name
            if order is not None:
                group.order = order
            return
        tag = self.tags.get(item_id)
        if tag is None:
            raise WeComError(errors.INVALID_TAG_ID)
        if name is not None:
            siblings = self.groups[tag.group_id].tags.values()
            if any(t.name == name and t.id != tag.id for t in siblings):
                raise WeComError(errors.TAG_NAME_EXISTS)
            tag.name = name
        if order is not None:
            tag.order = order

    def delete(self, tag_ids: list[str], group_ids: list[str]) -> list[str]:
        """Delete tags and whole groups; a group left without tags goes too. Returns the deleted tag ids."""
        for item in tag_ids:
            if item not in self.tags:
                raise WeComError(errors.INVALID_TAG_ID)
        for item in group_ids:
            if item not in self.groups:
                raise WeComError(errors.INVALID_TAG_ID)
        deleted: list[str] = []
        for group_id in group_ids:
            group = self.groups.pop(group_id)
            for tag_id in group.tags:
                self.tags.pop(tag_id, None)
                deleted.append(tag_id)
        for tag_id in tag_ids:
            tag = self.tags.pop(tag_id, None)
            if tag is None:
                continue
            deleted.append(tag_id)
            group = self.groups.get(tag.group_id)
            if group is not None:
                group.tags.pop(tag_id, None)
                if not group.tags:
                    self.groups.pop(group.group_id)
        return deleted


def check_name(name: str) -> None:
    """Tag and group names: not empty, at most 30 characters."""
    if not isinstance(name, str) or not name or len(name) > MAX_TAG_NAME_CHARS:
        raise WeComError(errors.INVALID_TAG_NAME_LENGTH)
