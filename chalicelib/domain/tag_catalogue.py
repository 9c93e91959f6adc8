"""The corp's customer-tag catalogue as WeCom's get_corp_tag_list answers it: groups of tags, each with an order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CatalogueTag:
    group_id: str
    tag_id: str
    name: str
    group_name: str = ""
    group_order: int = 0
    order: int = 0


def catalogue_from(answer: Mapping[str, Any]) -> list[CatalogueTag]:
    """get_corp_tag_list's `tag_group` list as catalogue entries (deleted ones left out)."""
    tags = []
    for group in answer.get("tag_group", ()):
        if group.get("deleted"):
            continue
        for tag in group.get("tag", ()):
            if tag.get("deleted"):
                continue
            tags.append(
                CatalogueTag(
                    group_id=str(group["group_id"]),
                    tag_id=str(tag["id"]),
                    name=str(tag.get("name", "")),
                    group_name=str(group.get("group_name", "")),
                    group_order=int(group.get("order", 0) or 0),
                    order=int(tag.get("order", 0) or 0),
                )
            )
    return tags
