"""Channels admin API (`/v1/channels`, plan feature `channels`): 「联系我」 QR codes with their auto-tags, welcome
message and figures; and the welcome messages of employees and the tenant's default (`/v1/welcome-messages`).

A channel's id is WeCom's config_id. Welcome messages (text and attachments) are checked against WeCom's limits
before anything is stored. Figures per channel: friends added, friends lost, still friends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalice import (
    BadRequestError,
    Blueprint,
    ConflictError,
    NotFoundError,
    Response,
)

from chalicelib.api.auth import AdminCall, admin_route
from chalicelib.api.schema import ONE_LINE, rule
from chalicelib.domain import plans, wecom_ids
from chalicelib.domain.access import READERS, WRITERS
from chalicelib.domain.broadcast_content import InvalidContent, validate_content
from chalicelib.domain.lifecycle import WelcomeContent
from chalicelib.domain.wecom_limits import CONTACT_WAY_REMARK_MAX_CHARS

admin_channels = Blueprint(__name__)

CONTACT_WAY_MAX_USERS = 100
AUTO_TAGS_MAX = 100
WELCOME_TEXT_MAX_CHARS = 4000
TAG = "channels"


@dataclass(frozen=True)
class CreateChannel:
    name: str = field(metadata=rule(min_length=1, max_length=CONTACT_WAY_REMARK_MAX_CHARS, pattern=ONE_LINE))
    userids: list[str] = field(
        metadata=rule(pattern=wecom_ids.USERID, max_items=CONTACT_WAY_MAX_USERS, description="Employees on the QR code")
    )
    state: str | None = field(
        default=None,
        metadata=rule(pattern=wecom_ids.CHANNEL_STATE, description="Generated when omitted; unique per tenant"),
    )
    skip_verify: bool = True
    auto_tag_ids: list[str] | None = field(
        default=None, metadata=rule(pattern=wecom_ids.TAG_ID, max_items=AUTO_TAGS_MAX, description="Corp tag ids")
    )
    welcome_text: str | None = field(default=None, metadata=rule(max_length=WELCOME_TEXT_MAX_CHARS))
    welcome_attachments: list[dict[str, Any]] | None = field(
        default=None, metadata=rule(max_items=9, description="WeCom attachments: image, link, miniprogram, video, file")
    )


@dataclass(frozen=True)
class UpdateChannel:
    name: str | None = field(
        default=None, metadata=rule(min_length=1, max_length=CONTACT_WAY_REMARK_MAX_CHARS, pattern=ONE_LINE)
    )
    userids: list[str] | None = field(
        default=None, metadata=rule(pattern=wecom_ids.USERID, max_items=CONTACT_WAY_MAX_USERS)
    )
    skip_verify: bool | None = None
    auto_tag_ids: list[str] | None = field(
        default=None, metadata=rule(pattern=wecom_ids.TAG_ID, max_items=AUTO_TAGS_MAX)
    )
    welcome_text: str | None = field(default=None, metadata=rule(max_length=WELCOME_TEXT_MAX_CHARS))
    welcome_attachments: list[dict[str, Any]] | None = field(default=None, metadata=rule(max_items=9))
    clear_welcome: bool = False


@dataclass(frozen=True)
class WelcomeBody:
    text: str | None = field(default=None, metadata=rule(max_length=WELCOME_TEXT_MAX_CHARS))
    attachments: list[dict[str, Any]] | None = field(default=None, metadata=rule(max_items=9))


def welcome_content(text: str | None, attachments: list[dict[str, Any]] | None) -> WelcomeContent | None:
    """The checked welcome message, None when neither text nor attachments were given; 400 naming every problem."""
    if not text and not attachments:
        return None
    try:
        checked = validate_content({"text": {"content": text or ""}, "attachments": attachments or []})
    except InvalidContent as error:
        raise BadRequestError(f"welcome message: {error}") from None
    return WelcomeContent(checked.text, checked.attachments)


def _context(call: AdminCall) -> Any:
    from chalicelib.services.tenant_context import TenantContext

    return TenantContext(call.principal.tenant_id)


def _channel(ctx: Any, channel_id: str) -> Any:
    channel = ctx.channels.get(channel_id)
    if channel is None or channel.link_id:
        raise NotFoundError("no such channel")
    return channel


@admin_route(admin_channels, "/v1/channels", methods=["GET"], roles=READERS, summary="List channels", tag=TAG)
def list_channels(call: AdminCall) -> dict[str, Any]:
    return {"channels": [c.as_dict() for c in _context(call).channels.list() if not c.link_id]}


@admin_route(
    admin_channels,
    "/v1/channels",
    methods=["POST"],
    roles=WRITERS,
    summary="Create a channel: a 「联系我」 QR code with auto-tags and a welcome message",
    tag=TAG,
    body=CreateChannel,
    feature=plans.CHANNELS,
    audit="channel.create",
    success_status=201,
)
def create_channel(call: AdminCall) -> Response:
    from chalicelib.domain.channels import Channel
    from chalicelib.services.channels import create_channel as create
    from chalicelib.store.channels import StateTaken

    body: CreateChannel = call.body
    if not body.userids:
        raise BadRequestError("field 'userids' needs at least one employee")
    draft = Channel(
        config_id="",
        name=body.name,
        state=body.state or "",
        userids=tuple(dict.fromkeys(body.userids)),
        skip_verify=body.skip_verify,
        auto_tag_ids=tuple(dict.fromkeys(body.auto_tag_ids or ())),
        welcome=welcome_content(body.welcome_text, body.welcome_attachments),
    )
    try:
        channel = create(_context(call), draft)
    except StateTaken:
        raise ConflictError("another channel uses this state") from None
    call.target = channel.config_id
    return Response({"channel": channel.as_dict()}, status_code=201)


@admin_route(
    admin_channels, "/v1/channels/{channel_id}", methods=["GET"], roles=READERS, summary="One channel", tag=TAG
)
def get_channel(call: AdminCall, channel_id: str) -> dict[str, Any]:
    return {"channel": _channel(_context(call), channel_id).as_dict()}


@admin_route(
    admin_channels,
    "/v1/channels/{channel_id}",
    methods=["PATCH"],
    roles=WRITERS,
    summary="Change a channel's employees, name, auto-tags or welcome message",
    tag=TAG,
    body=UpdateChannel,
    feature=plans.CHANNELS,
    audit="channel.update",
)
def update_channel(call: AdminCall, channel_id: str) -> dict[str, Any]:
    from chalicelib.domain.channels import ChannelChanges
    from chalicelib.services.channels import update_channel as update

    body: UpdateChannel = call.body
    if body.userids is not None and not body.userids:
        raise BadRequestError("field 'userids' needs at least one employee")
    ctx = _context(call)
    channel = _channel(ctx, channel_id)
    changes = ChannelChanges(
        name=body.name,
        userids=tuple(dict.fromkeys(body.userids)) if body.userids is not None else None,
        skip_verify=body.skip_verify,
        auto_tag_ids=tuple(dict.fromkeys(body.auto_tag_ids)) if body.auto_tag_ids is not None else None,
        welcome=welcome_content(body.welcome_text, body.welcome_attachments),
        clear_welcome=body.clear_welcome,
    )
    updated = update(ctx, channel, changes)
    call.target = channel_id
    return {"channel": updated.as_dict()}


@admin_route(
    admin_channels,
    "/v1/channels/{channel_id}",
    methods=["DELETE"],
    roles=WRITERS,
    summary="Delete a channel and its QR code",
    tag=TAG,
    feature=plans.CHANNELS,
    audit="channel.delete",
)
def delete_channel(call: AdminCall, channel_id: str) -> dict[str, Any]:
    from chalicelib.services.channels import delete_channel as delete

    ctx = _context(call)
    channel = _channel(ctx, channel_id)
    delete(ctx, channel)
    call.target = channel_id
    return {"deleted": channel_id}


def _welcome_owner(ctx: Any, employee_userid: str) -> str:
    """`_default` (the tenant's default) or a known employee of the tenant; 404 otherwise."""
    from chalicelib.store.channels import DEFAULT_WELCOME

    if employee_userid == DEFAULT_WELCOME:
        return employee_userid
    if not any(e.userid == employee_userid for e in ctx.customers.list_employees()):
        raise NotFoundError("no such employee")
    return employee_userid


@admin_route(
    admin_channels,
    "/v1/welcome-messages/{employee_userid}",
    methods=["GET"],
    roles=READERS,
    summary="An employee's welcome message (`_default`: the tenant's default)",
    tag=TAG,
)
def get_welcome(call: AdminCall, employee_userid: str) -> dict[str, Any]:
    from chalicelib.domain.channels import welcome_as_dict

    ctx = _context(call)
    owner = _welcome_owner(ctx, employee_userid)
    content = ctx.channels.welcomes((owner,)).get(owner)
    if content is None:
        raise NotFoundError("no welcome message")
    return {"employee_userid": owner, "welcome": welcome_as_dict(content)}


@admin_route(
    admin_channels,
    "/v1/welcome-messages/{employee_userid}",
    methods=["PUT"],
    roles=WRITERS,
    summary="Set an employee's welcome message (`_default`: the tenant's default), used when no channel has one",
    tag=TAG,
    body=WelcomeBody,
    feature=plans.CHANNELS,
    audit="welcome.set",
)
def put_welcome(call: AdminCall, employee_userid: str) -> dict[str, Any]:
    from chalicelib.domain.channels import welcome_as_dict

    ctx = _context(call)
    owner = _welcome_owner(ctx, employee_userid)
    content = welcome_content(call.body.text, call.body.attachments)
    if content is None:
        raise BadRequestError("a welcome message needs text or attachments")
    ctx.channels.set_welcome(owner, content)
    call.target = owner
    return {"employee_userid": owner, "welcome": welcome_as_dict(content)}


@admin_route(
    admin_channels,
    "/v1/welcome-messages/{employee_userid}",
    methods=["DELETE"],
    roles=WRITERS,
    summary="Remove an employee's welcome message",
    tag=TAG,
    feature=plans.CHANNELS,
    audit="welcome.clear",
)
def delete_welcome(call: AdminCall, employee_userid: str) -> dict[str, Any]:
    ctx = _context(call)
    owner = _welcome_owner(ctx, employee_userid)
    if owner not in ctx.channels.welcomes((owner,)):
        raise NotFoundError("no welcome message")
    ctx.channels.clear_welcome(owner)
    call.target = owner
    return {"deleted": owner}
