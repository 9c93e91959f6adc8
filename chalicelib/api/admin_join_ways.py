"""Group join ways (群活码) for a tenant's admins (`/v1/join-ways`, plan feature `channels`): a QR code that puts a
new customer into the first of up to five group chats with room, opens a new room when all are full, and attributes
the customers it brings through its state; with their figures (joined, quit, net).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalice import BadRequestError, Blueprint, ConflictError, NotFoundError, Response

from chalicelib.api.auth import AdminCall, admin_route
from chalicelib.api.schema import ONE_LINE, rule
from chalicelib.domain import plans, wecom_ids
from chalicelib.domain.access import READERS, WRITERS
from chalicelib.domain.join_ways import JOIN_WAY_MAX_CHATS, ROOM_BASE_NAME_MAX_CHARS, JoinWay, JoinWayChanges
from chalicelib.domain.wecom_limits import CONTACT_WAY_REMARK_MAX_CHARS

admin_join_ways = Blueprint(__name__)
TAG = "groups"


@dataclass(frozen=True)
class CreateJoinWay:
    name: str = field(metadata=rule(min_length=1, max_length=CONTACT_WAY_REMARK_MAX_CHARS, pattern=ONE_LINE))
    chat_ids: list[str] = field(
        metadata=rule(pattern=wecom_ids.CHAT_ID, max_items=JOIN_WAY_MAX_CHATS, description="1 to 5 group chats")
    )
    state: str | None = field(
        default=None, metadata=rule(pattern=wecom_ids.CHANNEL_STATE, description="Generated when omitted")
    )
    auto_create_room: bool = True
    room_base_name: str | None = field(
        default=None, metadata=rule(min_length=1, max_length=ROOM_BASE_NAME_MAX_CHARS, pattern=ONE_LINE)
    )
    room_base_id: int = field(default=1, metadata=rule(minimum=0, maximum=2**31 - 1))


@dataclass(frozen=True)
class UpdateJoinWay:
    name: str | None = field(
        default=None, metadata=rule(min_length=1, max_length=CONTACT_WAY_REMARK_MAX_CHARS, pattern=ONE_LINE)
    )
    chat_ids: list[str] | None = field(
        default=None, metadata=rule(pattern=wecom_ids.CHAT_ID, max_items=JOIN_WAY_MAX_CHATS)
    )
    auto_create_room: bool | None = None
    room_base_name: str | None = field(
        default=None, metadata=rule(min_length=1, max_length=ROOM_BASE_NAME_MAX_CHARS, pattern=ONE_LINE)
    )
    room_base_id: int | None = field(default=None, metadata=rule(minimum=0, maximum=2**31 - 1))


def _context(call: AdminCall) -> Any:
    from chalicelib.services.tenant_context import TenantContext

    return TenantContext(call.principal.tenant_id)


@admin_route(admin_join_ways, "/v1/join-ways", methods=["GET"], roles=READERS, summary="List join ways", tag=TAG)
def list_join_ways(call: AdminCall) -> dict[str, Any]:
    from chalicelib.services.join_ways import list_join_ways as listed

    return {"join_ways": [w.as_dict() for w in listed(_context(call))]}


@admin_route(
    admin_join_ways,
    "/v1/join-ways",
    methods=["POST"],
    roles=WRITERS,
    summary="Create a join way: a QR code into one of up to five group chats, new rooms when they are full",
    tag=TAG,
    body=CreateJoinWay,
    feature=plans.CHANNELS,
    audit="join_way.create",
    success_status=201,
)
def create_join_way(call: AdminCall) -> Response:
    from chalicelib.services.join_ways import create_join_way as create
    from chalicelib.store.channels import StateTaken

    body: CreateJoinWay = call.body
    if not body.chat_ids:
        raise BadRequestError("field 'chat_ids' needs at least one group chat")
    if body.auto_create_room and not body.room_base_name:
        raise BadRequestError("field 'room_base_name' is required when auto_create_room is true")
    draft = JoinWay(
        config_id="",
        name=body.name,
        state=body.state or "",
        chat_ids=tuple(dict.fromkeys(body.chat_ids)),
        auto_create_room=body.auto_create_room,
        room_base_name=body.room_base_name or "",
        room_base_id=body.room_base_id,
    )
    try:
        way = create(_context(call), draft)
    except StateTaken:
        raise ConflictError("another channel or join way uses this state") from None
    call.target = way.config_id
    return Response({"join_way": way.as_dict()}, status_code=201)


@admin_route(
    admin_join_ways, "/v1/join-ways/{join_way_id}", methods=["GET"], roles=READERS, summary="One join way", tag=TAG
)
def get_join_way(call: AdminCall, join_way_id: str) -> dict[str, Any]:
    from chalicelib.services.join_ways import JoinWayNotFound
    from chalicelib.services.join_ways import get_join_way as get

    try:
        return {"join_way": get(_context(call), join_way_id).as_dict()}
    except JoinWayNotFound:
        raise NotFoundError("no such join way") from None


@admin_route(
    admin_join_ways,
    "/v1/join-ways/{join_way_id}",
    methods=["PATCH"],
    roles=WRITERS,
    summary="Change a join way's name, group chats or new-room settings",
    tag=TAG,
    body=UpdateJoinWay,
    feature=plans.CHANNELS,
    audit="join_way.update",
)
def update_join_way(call: AdminCall, join_way_id: str) -> dict[str, Any]:
    from chalicelib.services.join_ways import JoinWayNotFound
    from chalicelib.services.join_ways import update_join_way as update

    body: UpdateJoinWay = call.body
    if body.chat_ids is not None and not body.chat_ids:
        raise BadRequestError("field 'chat_ids' needs at least one group chat")
    changes = JoinWayChanges(
        name=body.name,
        chat_ids=tuple(dict.fromkeys(body.chat_ids)) if body.chat_ids is not None else None,
        auto_create_room=body.auto_create_room,
        room_base_name=body.room_base_name,
        room_base_id=body.room_base_id,
    )
    try:
        way = update(_context(call), join_way_id, changes)
    except JoinWayNotFound:
        raise NotFoundError("no such join way") from None
    call.target = join_way_id
    return {"join_way": way.as_dict()}


@admin_route(
    admin_join_ways,
    "/v1/join-ways/{join_way_id}",
    methods=["DELETE"],
    roles=WRITERS,
    summary="Delete a join way and its QR code",
    tag=TAG,
    feature=plans.CHANNELS,
    audit="join_way.delete",
)
def delete_join_way(call: AdminCall, join_way_id: str) -> dict[str, Any]:
    from chalicelib.services.join_ways import JoinWayNotFound
    from chalicelib.services.join_ways import delete_join_way as delete

    try:
        delete(_context(call), join_way_id)
    except JoinWayNotFound:
        raise NotFoundError("no such join way") from None
    call.target = join_way_id
    return {"deleted": join_way_id}


@admin_route(
    admin_join_ways,
    "/v1/join-ways/{join_way_id}/figures",
    methods=["GET"],
    roles=READERS,
    summary="Customers who joined groups through a join way and who of them quit, per day and in total",
    tag=TAG,
)
def get_join_way_figures(call: AdminCall, join_way_id: str) -> dict[str, Any]:
    from chalicelib.services.join_ways import JoinWayNotFound, join_way_figures

    try:
        return join_way_figures(_context(call), join_way_id)
    except JoinWayNotFound:
        raise NotFoundError("no such join way") from None
