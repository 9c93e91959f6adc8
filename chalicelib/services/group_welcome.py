"""Group welcome templates (入群欢迎语素材, group_welcome_template/add|edit|del), made from the material library:
a text (at most 3,000 bytes; `%NICKNAME%` stands for the new member's name) and at most one library material
(image, link, mini-program, file or video) resolved to a WeCom attachment with a fresh media id. WeCom holds at most
100 templates per company; the 101st is refused here before WeCom is asked. WeCom is changed first, then the store.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from chalicelib.domain.wecom_limits import utf8_length
from chalicelib.services.materials import record_use, resolve_attachments
from chalicelib.services.tenant_context import TenantContext
from chalicelib.store.group_welcome import GroupWelcome, GroupWelcomeStore

ADD_API = "externalcontact/group_welcome_template/add"
EDIT_API = "externalcontact/group_welcome_template/edit"
DELETE_API = "externalcontact/group_welcome_template/del"
TEMPLATES_MAX = 100
TEXT_MAX_BYTES = 3000
NICKNAME = "%NICKNAME%"


class TemplateNotFound(LookupError):
    """No such group welcome template in this tenant."""


class TemplatesFull(Exception):
    """The tenant has WeCom's maximum of group welcome templates."""


class InvalidTemplate(ValueError):
    """A template WeCom would refuse (empty, or text too long)."""


def _store(ctx: TenantContext) -> GroupWelcomeStore:
    return GroupWelcomeStore(ctx.tenant_id, ctx.settings)


def _wecom_body(ctx: TenantContext, text: str, material_id: str) -> dict[str, Any]:
    if not text and not material_id:
        raise InvalidTemplate("a group welcome template needs text or a material")
    if utf8_length(text) > TEXT_MAX_BYTES:
        raise InvalidTemplate(f"text is longer than {TEXT_MAX_BYTES} bytes")
    body: dict[str, Any] = {"text": {"content": text}} if text else {}
    if material_id:
        (attachment,) = resolve_attachments(ctx.tenant_id, [{"material_id": material_id}])
        kind = attachment["msgtype"]
        body[kind] = attachment[kind]
    return body


def list_templates(ctx: TenantContext) -> list[GroupWelcome]:
    return _store(ctx).list()


def get_template(ctx: TenantContext, template_id: str) -> GroupWelcome:
    template = _store(ctx).get(template_id)
    if template is None:
        raise TemplateNotFound(template_id)
    return template


def create_template(ctx: TenantContext, name: str, text: str, material_id: str) -> GroupWelcome:
    if len(_store(ctx).list()) >= TEMPLATES_MAX:
        raise TemplatesFull()
    body = _wecom_body(ctx, text, material_id)
    template_id = ctx.wecom.post(ADD_API, body, retry_safe=False)["template_id"]
    now = int(time.time())
    template = _store(ctx).put(GroupWelcome(template_id, name, text, material_id, now, now))
    _count_use(ctx, template)
    return template


def edit_template(ctx: TenantContext, template_id: str, changes: Mapping[str, str | None]) -> GroupWelcome:
    """Change name, text or material (None leaves a field as it is; "" clears text or material)."""
    template = get_template(ctx, template_id)
    updated = replace(
        template,
        name=changes.get("name") or template.name,
        text=template.text if changes.get("text") is None else str(changes["text"]),
        material_id=template.material_id if changes.get("material_id") is None else str(changes["material_id"]),
        updated_at=int(time.time()),
    )
    body = _wecom_body(ctx, updated.text, updated.material_id)
    ctx.wecom.post(EDIT_API, {"template_id": template_id, **body}, retry_safe=True)
    _store(ctx).put(updated)
    _count_use(ctx, updated)
    return updated


def delete_template(ctx: TenantContext, template_id: str) -> None:
    get_template(ctx, template_id)
    ctx.wecom.post(DELETE_API, {"template_id": template_id}, retry_safe=True)
    _store(ctx).delete(template_id)


def _count_use(ctx: TenantContext, template: GroupWelcome) -> None:
    if template.material_id:
        record_use(ctx.tenant_id, f"group-welcome:{template.template_id}", [{"material_id": template.material_id}])
