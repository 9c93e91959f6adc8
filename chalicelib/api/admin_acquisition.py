"""Acquisition links admin API (`/v1/acquisition-links`, plan feature `channels`): 获客助手 links for up to 500
employees, each with campaigns (a `customer_channel` each) whose new friends get the campaign's welcome and
auto-tags; figures per link (clicks, new customers) and per campaign (friends added, lost, retained after 7 and 30
days); the tenant's acquisition quota; who is alerted of quota and link events (`/v1/acquisition-alerts`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalice import BadRequestError, Blueprint, NotFoundError, Response

from chalicelib.api.admin_channels import AUTO_TAGS_MAX, WELCOME_TEXT_MAX_CHARS, welcome_content
from chalicelib.api.auth import AdminCall, admin_route
from chalicelib.api.schema import ONE_LINE, int_param, rule, str_param, validate
from chalicelib.domain import plans, wecom_ids
from chalicelib.domain.access import READERS, WRITERS
from chalicelib.domain.wecom_limits import (
    ACQUISITION_CUSTOMER_MAX_LIMIT,
    ACQUISITION_LINK_MAX_PEOPLE,
    ACQUISITION_LINK_NAME_MAX_CHARS,
    ACQUISITION_STATISTIC_MAX_DAYS,
    APP_MESSAGE_MAX_TOUSER,
)

admin_acquisition = Blueprint(__name__)

TAG = "acquisition links"
DEPARTMENT_ID_MAX = 2**31 - 1
CAMPAIGNS_MAX = 20


@dataclass(frozen=True)
class Campaign:
    name: str = field(metadata=rule(min_length=1, max_length=ACQUISITION_LINK_NAME_MAX_CHARS, pattern=ONE_LINE))
    auto_tag_ids: list[str] | None = field(
        default=None, metadata=rule(pattern=wecom_ids.TAG_ID, max_items=AUTO_TAGS_MAX)
    )
    welcome_text: str | None = field(default=None, metadata=rule(max_length=WELCOME_TEXT_MAX_CHARS))
    welcome_attachments: list[dict[str, Any]] | None = field(default=None, metadata=rule(max_items=9))


@dataclass(frozen=True)
class CreateLink:
    name: str = field(metadata=rule(min_length=1, max_length=ACQUISITION_LINK_NAME_MAX_CHARS, pattern=ONE_LINE))
    userids: list[str] | None = field(
        default=None, metadata=rule(pattern=wecom_ids.USERID, max_items=ACQUISITION_LINK_MAX_PEOPLE)
    )
    department_ids: list[int] | None = field(
        default=None, metadata=rule(minimum=1, maximum=DEPARTMENT_ID_MAX, max_items=ACQUISITION_LINK_MAX_PEOPLE)
    )
    skip_verify: bool = True
    auto_tag_ids: list[str] | None = field(
        default=None,
        metadata=rule(pattern=wecom_ids.TAG_ID, max_items=AUTO_TAGS_MAX, description="Of the default campaign"),
    )
    welcome_text: str | None = field(default=None, metadata=rule(max_length=WELCOME_TEXT_MAX_CHARS))
    welcome_attachments: list[dict[str, Any]] | None = field(default=None, metadata=rule(max_items=9))
    campaigns: list[dict[str, Any]] | None = field(
        default=None, metadata=rule(max_items=CAMPAIGNS_MAX, description="Each: name, auto_tag_ids, welcome_text/…")
    )


@dataclass(frozen=True)
class UpdateLink:
    name: str | None = field(
        default=None, metadata=rule(min_length=1, max_length=ACQUISITION_LINK_NAME_MAX_CHARS, pattern=ONE_LINE)
    )
    userids: list[str] | None = field(
        default=None, metadata=rule(pattern=wecom_ids.USERID, max_items=ACQUISITION_LINK_MAX_PEOPLE)
    )
    department_ids: list[int] | None = field(
        default=None, metadata=rule(minimum=1, maximum=DEPARTMENT_ID_MAX, max_items=ACQUISITION_LINK_MAX_PEOPLE)
    )
    skip_verify: bool | None = None
    add_campaigns: list[dict[str, Any]] | None = field(default=None, metadata=rule(max_items=CAMPAIGNS_MAX))


@dataclass(frozen=True)
class AlertRecipients:
    userids: list[str] = field(metadata=rule(pattern=wecom_ids.USERID, max_items=APP_MESSAGE_MAX_TOUSER))


def _context(call: AdminCall) -> Any:
    from chalicelib.services.tenant_context import TenantContext

    return TenantContext(call.principal.tenant_id)


def _link(ctx: Any, link_id: str) -> Any:
    link = ctx.acquisition_links.get(link_id)
    if link is None:
        raise NotFoundError("no such acquisition link")
    return link


def _campaigns(bodies: list[dict[str, Any]] | None, taken: set[str]) -> list[Any]:
    """Campaign drafts (channels named after their campaign); 400 for a bad one or a name already taken."""
    campaigns = [validate(Campaign, body) for body in bodies or ()]
    names = [c.name for c in campaigns]
    if len(set(names)) != len(names) or taken & set(names):
        raise BadRequestError(f"campaign names must be unique, new, and not one of {sorted(taken)}")
    return [_campaign(c) for c in campaigns]


def _campaign(campaign: Campaign) -> Any:
    from chalicelib.domain.channels import Channel

    return Channel(
        config_id="",
        name=campaign.name,
        state="",
        userids=(),
        auto_tag_ids=tuple(dict.fromkeys(campaign.auto_tag_ids or ())),
        welcome=welcome_content(campaign.welcome_text, campaign.welcome_attachments),
    )


def _range(userids: list[str] | None, department_ids: list[int] | None) -> tuple[tuple[str, ...], tuple[int, ...]]:
    users = tuple(dict.fromkeys(userids or ()))
    departments = tuple(dict.fromkeys(department_ids or ()))
    if not users and not departments:
        raise BadRequestError("a link needs at least one employee in 'userids' or 'department_ids'")
    return users, departments


@admin_route(admin_acquisition, "/v1/acquisition-links", methods=["GET"], roles=READERS, summary="List links", tag=TAG)
def list_links(call: AdminCall) -> dict[str, Any]:
    return {"links": [link.as_dict() for link in _context(call).acquisition_links.list()]}


@admin_route(
    admin_acquisition,
    "/v1/acquisition-links",
    methods=["POST"],
    roles=WRITERS,
    summary="Create an acquisition link with its campaigns (welcome message and auto-tags each)",
    tag=TAG,
    body=CreateLink,
    feature=plans.CHANNELS,
    audit="acquisition_link.create",
    success_status=201,
)
def create_link(call: AdminCall) -> Response:
    from chalicelib.domain.acquisition import AcquisitionLink
    from chalicelib.domain.channels import Channel
    from chalicelib.services import acquisition_links

    body: CreateLink = call.body
    users, departments = _range(body.userids, body.department_ids)
    campaigns = _campaigns(body.campaigns, {acquisition_links.DEFAULT_CAMPAIGN})
    default = Channel(
        config_id="",
        name="",
        state="",
        userids=(),
        auto_tag_ids=tuple(dict.fromkeys(body.auto_tag_ids or ())),
        welcome=welcome_content(body.welcome_text, body.welcome_attachments),
    )
    draft = AcquisitionLink("", body.name, "", users, departments, body.skip_verify)
    ctx = _context(call)
    link = acquisition_links.create_link(ctx, draft, default, campaigns)
    call.target = link.link_id
    return Response({"link": acquisition_links.link_view(ctx, link, 1)}, status_code=201)


@admin_route(
    admin_acquisition,
    "/v1/acquisition-links/{link_id}",
    methods=["GET"],
    roles=READERS,
    summary="One link with its figures: clicks and new customers (WeCom's statistic), and per campaign",
    tag=TAG,
    query=(("days", "integer", f"the statistic's window in days, 1 to {ACQUISITION_STATISTIC_MAX_DAYS}"),),
)
def get_link(call: AdminCall, link_id: str) -> dict[str, Any]:
    from chalicelib.services.acquisition_links import link_view

    days = int_param(call.request, "days", ACQUISITION_STATISTIC_MAX_DAYS, 1, ACQUISITION_STATISTIC_MAX_DAYS)
    ctx = _context(call)
    return {"link": link_view(ctx, _link(ctx, link_id), days)}


@admin_route(
    admin_acquisition,
    "/v1/acquisition-links/{link_id}/customers",
    methods=["GET"],
    roles=READERS,
    summary="The link's customers as WeCom lists them: employee, campaign state, whether they wrote yet",
    tag=TAG,
    query=(("limit", "integer", "1 to 1000 (default 100)"), ("cursor", "string", "from the previous page")),
)
def link_customers(call: AdminCall, link_id: str) -> dict[str, Any]:
    from chalicelib.services.acquisition_links import link_customers as customers

    ctx = _context(call)
    _link(ctx, link_id)
    limit = int_param(call.request, "limit", 100, 1, ACQUISITION_CUSTOMER_MAX_LIMIT)
    return customers(ctx, link_id, limit, str_param(call.request, "cursor", 512) or "")


@admin_route(
    admin_acquisition,
    "/v1/acquisition-links/{link_id}",
    methods=["PATCH"],
    roles=WRITERS,
    summary="Change a link's name, employees or verification; add campaigns",
    tag=TAG,
    body=UpdateLink,
    feature=plans.CHANNELS,
    audit="acquisition_link.update",
)
def update_link(call: AdminCall, link_id: str) -> dict[str, Any]:
    from dataclasses import replace

    from chalicelib.services import acquisition_links

    body: UpdateLink = call.body
    ctx = _context(call)
    link = _link(ctx, link_id)
    added = _campaigns(body.add_campaigns, {c.name for c in acquisition_links.campaigns(ctx, link_id)})
    changed = link
    if (body.name, body.userids, body.department_ids, body.skip_verify) != (None, None, None, None):
        users, departments = _range(
            body.userids if body.userids is not None else list(link.userids),
            body.department_ids if body.department_ids is not None else list(link.department_ids),
        )
        changed = replace(
            link,
            name=body.name or link.name,
            userids=users,
            department_ids=departments,
            skip_verify=link.skip_verify if body.skip_verify is None else body.skip_verify,
        )
        changed = acquisition_links.update_link(ctx, link, changed)
    for campaign in added:
        acquisition_links.add_campaign(ctx, changed, campaign)
    call.target = link_id
    return {"link": acquisition_links.link_view(ctx, changed, 1)}


@admin_route(
    admin_acquisition,
    "/v1/acquisition-links/{link_id}",
    methods=["DELETE"],
    roles=WRITERS,
    summary="Delete a link and its campaigns",
    tag=TAG,
    feature=plans.CHANNELS,
    audit="acquisition_link.delete",
)
def delete_link(call: AdminCall, link_id: str) -> dict[str, Any]:
    from chalicelib.services.acquisition_links import delete_link as delete

    ctx = _context(call)
    delete(ctx, _link(ctx, link_id))
    call.target = link_id
    return {"deleted": link_id}


@admin_route(
    admin_acquisition,
    "/v1/acquisition-quota",
    methods=["GET"],
    roles=READERS,
    summary="The tenant's acquisition quota: total, balance, balance by expiry date",
    tag=TAG,
)
def get_quota(call: AdminCall) -> dict[str, Any]:
    from chalicelib.services.acquisition_links import quota

    return {"quota": quota(_context(call))}


@admin_route(
    admin_acquisition,
    "/v1/acquisition-alerts",
    methods=["GET"],
    roles=READERS,
    summary="Who is alerted (app message) of low or exhausted quota and failed links",
    tag=TAG,
)
def get_alerts(call: AdminCall) -> dict[str, Any]:
    return {"userids": _context(call).acquisition_links.alert_recipients()}


@admin_route(
    admin_acquisition,
    "/v1/acquisition-alerts",
    methods=["PUT"],
    roles=WRITERS,
    summary="Set who is alerted of quota and link events",
    tag=TAG,
    body=AlertRecipients,
    audit="acquisition_alerts.set",
)
def put_alerts(call: AdminCall) -> dict[str, Any]:
    userids = list(dict.fromkeys(call.body.userids))
    _context(call).acquisition_links.set_alert_recipients(userids)
    return {"userids": userids}
