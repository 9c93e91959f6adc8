"""The tenant's material library (`/v1/materials`): images, links, mini-programs, videos and files for mass and
welcome messages. Writers create, retitle and delete; readers list and read. Creating a material with bytes fetches
its https `source_url` and uploads it to WeCom at once, so a bad source or a WeCom refusal is reported here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalice import BadRequestError, Blueprint, NotFoundError, Response

from chalicelib.api.auth import AdminCall, admin_route
from chalicelib.api.schema import ONE_LINE, int_param, rule, str_param
from chalicelib.domain import materials as rules
from chalicelib.domain.access import READERS, WRITERS

admin_materials = Blueprint(__name__)

TAG = "materials"
HTTPS_URL = r"^https://[^\s\x00-\x1f\x7f]+$"
PAGE_MAX = 100


@dataclass(frozen=True)
class CreateMaterial:
    type: str = field(metadata=rule(enum=rules.TYPES, description="image, link, miniprogram, video, file or article"))
    title: str = field(
        metadata=rule(
            min_length=1, max_length=128, pattern=ONE_LINE, description="Link title ≤128 bytes, mini-program ≤64"
        )
    )
    desc: str | None = field(default=None, metadata=rule(max_length=512, description="Shown under a link"))
    url: str | None = field(default=None, metadata=rule(pattern=HTTPS_URL, max_length=2048, description="link only"))
    picurl: str | None = field(
        default=None, metadata=rule(pattern=HTTPS_URL, max_length=2048, description="link or article cover (optional)")
    )
    source_url: str | None = field(
        default=None,
        metadata=rule(
            pattern=HTTPS_URL,
            max_length=2048,
            description="Where the bytes are (image JPG/PNG ≤10 MB, video MP4 ≤10 MB, file ≤20 MB, mini-program "
            "cover image); fetched now and again every ~2.5 days to renew WeCom's 3-day media id",
        ),
    )
    appid: str | None = field(default=None, metadata=rule(pattern=r"^wx[0-9a-f]{16}$", description="mini-program"))
    page: str | None = field(default=None, metadata=rule(max_length=2048, description="mini-program page (.html)"))
    body: str | None = field(
        default=None,
        metadata=rule(
            max_length=60_000,
            description="article only: rich text (HTML), sanitised when shown (tags, https links and images only)",
        ),
    )


@dataclass(frozen=True)
class UpdateMaterial:
    title: str | None = field(default=None, metadata=rule(min_length=1, max_length=128, pattern=ONE_LINE))
    desc: str | None = field(default=None, metadata=rule(max_length=512, description="empty string removes it"))


@admin_route(
    admin_materials,
    "/v1/materials",
    methods=["POST"],
    roles=WRITERS,
    summary="Add a material (bytes are fetched from source_url and uploaded to WeCom now)",
    tag=TAG,
    body=CreateMaterial,
    audit="material.create",
    success_status=201,
)
def create_material(call: AdminCall) -> Response:
    from chalicelib.services.materials import MaterialLibrary

    body: CreateMaterial = call.body
    spec = rules.MaterialSpec(**body.__dict__)
    material = MaterialLibrary(call.principal.tenant_id).create(spec)
    call.target = material.material_id
    return Response({"material": material.as_dict()}, status_code=201)


@admin_route(
    admin_materials,
    "/v1/materials",
    methods=["GET"],
    roles=READERS,
    summary="List materials, newest first, optionally of one type",
    tag=TAG,
    query=(
        ("type", "string", "image, link, miniprogram, video or file"),
        ("limit", "integer", f"1 to {PAGE_MAX}, default 20"),
        ("cursor", "string", "next_cursor of the previous page"),
    ),
)
def list_materials(call: AdminCall) -> dict[str, Any]:
    from chalicelib.services.materials import MaterialLibrary

    kind = str_param(call.request, "type", max_length=16)
    if kind is not None and kind not in rules.TYPES:
        raise BadRequestError(f"query parameter 'type' must be one of {', '.join(rules.TYPES)}")
    limit = int_param(call.request, "limit", 20, 1, PAGE_MAX)
    cursor = str_param(call.request, "cursor", max_length=64)
    try:
        materials, next_cursor = MaterialLibrary(call.principal.tenant_id).page(kind, limit, cursor)
    except ValueError:
        raise BadRequestError("invalid cursor") from None
    return {"materials": [m.as_dict() for m in materials], "next_cursor": next_cursor}


@admin_route(
    admin_materials, "/v1/materials/{material_id}", methods=["GET"], roles=READERS, summary="One material", tag=TAG
)
def get_material(call: AdminCall, material_id: str) -> dict[str, Any]:
    from chalicelib.services.materials import MaterialLibrary

    material = MaterialLibrary(call.principal.tenant_id).get(material_id)
    if material is None:
        raise NotFoundError("no such material")
    return {"material": material.as_dict()}


@admin_route(
    admin_materials,
    "/v1/materials/{material_id}",
    methods=["PATCH"],
    roles=WRITERS,
    summary="Change a material's title or description",
    tag=TAG,
    body=UpdateMaterial,
    audit="material.update",
)
def update_material(call: AdminCall, material_id: str) -> dict[str, Any]:
    from chalicelib.services.materials import MaterialLibrary

    body: UpdateMaterial = call.body
    material = MaterialLibrary(call.principal.tenant_id).update(material_id, body.title, body.desc)
    if material is None:
        raise NotFoundError("no such material")
    call.target = material_id
    return {"material": material.as_dict()}


@admin_route(
    admin_materials,
    "/v1/materials/{material_id}",
    methods=["DELETE"],
    roles=WRITERS,
    summary="Delete a material (messages already sent keep their attachments)",
    tag=TAG,
    audit="material.delete",
)
def delete_material(call: AdminCall, material_id: str) -> dict[str, Any]:
    from chalicelib.services.materials import MaterialLibrary

    if not MaterialLibrary(call.principal.tenant_id).delete(material_id):
        raise NotFoundError("no such material")
    call.target = material_id
    return {"deleted": material_id}
