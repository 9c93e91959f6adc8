"""Group welcome templates (入群欢迎语素材) for a tenant's admins (`/v1/group-welcome-templates`, plan feature
`channels`): a text with `%NICKNAME%` and at most one material of the library, kept in WeCom (at most 100)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalice import BadRequestError, Blueprint, ConflictError, NotFoundError, Response

from chalicelib.api.auth import AdminCall, admin_route
from chalicelib.api.schema import ONE_LINE, rule
from chalicelib.domain import plans
from chalicelib.domain.access import READERS, WRITERS
from chalicelib.domain.materials import MATERIAL_ID_PATTERN

admin_group_welcome = Blueprint(__name__)
TAG = "groups"
TEXT_MAX_CHARS = 3000


@dataclass(frozen=True)
class CreateTemplate:
    name: str = field(metadata=rule(min_length=1, max_length=64, pattern=ONE_LINE))
    text: str | None = field(
        default=None, metadata=rule(max_length=TEXT_MAX_CHARS, description="≤3,000 bytes; %NICKNAME% = the member")
    )
    material_id: str | None = field(
        default=None, metadata=rule(pattern=MATERIAL_ID_PATTERN.pattern, description="One library material")
    )


@dataclass(frozen=True)
class EditTemplate:
    name: str | None = field(default=None, metadata=rule(min_length=1, max_length=64, pattern=ONE_LINE))
    text: str | None = field(default=None, metadata=rule(max_length=TEXT_MAX_CHARS, description='"" clears it'))
    material_id: str | None = field(
        default=None, metadata=rule(pattern=f"^$|{MATERIAL_ID_PATTERN.pattern}", description='"" clears it')
    )


def _context(call: AdminCall) -> Any:
    from chalicelib.services.tenant_context import TenantContext

    return TenantContext(call.principal.tenant_id)


@admin_route(
    admin_group_welcome,
    "/v1/group-welcome-templates",
    methods=["GET"],
    roles=READERS,
    summary="List group welcome templates",
    tag=TAG,
)
def list_templates(call: AdminCall) -> dict[str, Any]:
    from chalicelib.services.group_welcome import list_templates as listed

    return {"templates": [t.as_dict() for t in listed(_context(call))]}


@admin_route(
    admin_group_welcome,
    "/v1/group-welcome-templates",
    methods=["POST"],
    roles=WRITERS,
    summary="Create a group welcome template from a text and a library material (at most 100)",
    tag=TAG,
    body=CreateTemplate,
    feature=plans.CHANNELS,
    audit="group_welcome.create",
    success_status=201,
)
def create_template(call: AdminCall) -> Response:
    from chalicelib.services.group_welcome import InvalidTemplate, TemplatesFull
    from chalicelib.services.group_welcome import create_template as create
    from chalicelib.store.materials import MaterialNotFound

    body: CreateTemplate = call.body
    try:
        template = create(_context(call), body.name, body.text or "", body.material_id or "")
    except InvalidTemplate as error:
        raise BadRequestError(str(error)) from None
    except MaterialNotFound:
        raise BadRequestError("no such material") from None
    except TemplatesFull:
        raise ConflictError("WeCom allows at most 100 group welcome templates: delete unused ones first") from None
    call.target = template.template_id
    return Response({"template": template.as_dict()}, status_code=201)


@admin_route(
    admin_group_welcome,
    "/v1/group-welcome-templates/{template_id}",
    methods=["GET"],
    roles=READERS,
    summary="One group welcome template",
    tag=TAG,
)
def get_template(call: AdminCall, template_id: str) -> dict[str, Any]:
    from chalicelib.services.group_welcome import TemplateNotFound
    from chalicelib.services.group_welcome import get_template as get

    try:
        return {"template": get(_context(call), template_id).as_dict()}
    except TemplateNotFound:
        raise NotFoundError("no such group welcome template") from None


@admin_route(
    admin_group_welcome,
    "/v1/group-welcome-templates/{template_id}",
    methods=["PATCH"],
    roles=WRITERS,
    summary="Change a group welcome template's name, text or material",
    tag=TAG,
    body=EditTemplate,
    feature=plans.CHANNELS,
    audit="group_welcome.update",
)
def edit_template(call: AdminCall, template_id: str) -> dict[str, Any]:
    from chalicelib.services.group_welcome import InvalidTemplate, TemplateNotFound
    from chalicelib.services.group_welcome import edit_template as edit
    from chalicelib.store.materials import MaterialNotFound

    body: EditTemplate = call.body
    changes = {"name": body.name, "text": body.text, "material_id": body.material_id}
    try:
        template = edit(_context(call), template_id, changes)
    except TemplateNotFound:
        raise NotFoundError("no such group welcome template") from None
    except InvalidTemplate as error:
        raise BadRequestError(str(error)) from None
    except MaterialNotFound:
        raise BadRequestError("no such material") from None
    call.target = template_id
    return {"template": template.as_dict()}


@admin_route(
    admin_group_welcome,
    "/v1/group-welcome-templates/{template_id}",
    methods=["DELETE"],
    roles=WRITERS,
    summary="Delete a group welcome template",
    tag=TAG,
    feature=plans.CHANNELS,
    audit="group_welcome.delete",
)
def delete_template(call: AdminCall, template_id: str) -> dict[str, Any]:
    from chalicelib.services.group_welcome import TemplateNotFound
    from chalicelib.services.group_welcome import delete_template as delete

    try:
        delete(_context(call), template_id)
    except TemplateNotFound:
        raise NotFoundError("no such group welcome template") from None
    call.target = template_id
    return {"deleted": template_id}
