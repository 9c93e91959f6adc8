"""Group welcome templates (入群欢迎语素材) of one tenant (data table): `<t>#group-welcome` / `<template_id>`, the
template as it was sent to WeCom: its text and the library material of its one attachment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.models import Model

from chalicelib import resources
from chalicelib.config import Settings
from chalicelib.store.keys import TenantKeys
from chalicelib.store.tables import bind_models, on_table


@on_table(resources.DATA)
class GroupWelcomeItem(Model):
    class Meta:
        table_name = resources.DATA.name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    name = UnicodeAttribute()
    text = UnicodeAttribute(null=True)
    material_id = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    updated_at = NumberAttribute()


@dataclass(frozen=True)
class GroupWelcome:
    template_id: str
    name: str
    text: str = ""
    material_id: str = ""
    created_at: int = 0
    updated_at: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "template_id": self.template_id,
            "name": self.name,
            "text": self.text,
            "material_id": self.material_id or None,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def _welcome(item: GroupWelcomeItem) -> GroupWelcome:
    return GroupWelcome(
        item.sk, item.name, item.text or "", item.material_id or "", int(item.created_at), int(item.updated_at)
    )


class GroupWelcomeStore:
    """Group welcome templates of one tenant."""

    def __init__(self, tenant_id: str, settings: Settings | None = None) -> None:
        self.keys = TenantKeys(tenant_id)
        bind_models(settings)

    def _pk(self) -> str:
        return self.keys.key("group-welcome")

    def put(self, template: GroupWelcome) -> GroupWelcome:
        GroupWelcomeItem(
            self._pk(),
            template.template_id,
            name=template.name,
            text=template.text or None,
            material_id=template.material_id or None,
            created_at=template.created_at,
            updated_at=template.updated_at,
        ).save()
        return template

    def get(self, template_id: str) -> GroupWelcome | None:
        try:
            return _welcome(GroupWelcomeItem.get(self._pk(), template_id, consistent_read=True))
        except DoesNotExist:
            return None

    def list(self) -> list[GroupWelcome]:
        return [_welcome(i) for i in GroupWelcomeItem.query(self._pk())]

    def delete(self, template_id: str) -> None:
        GroupWelcomeItem(self._pk(), template_id).delete()
