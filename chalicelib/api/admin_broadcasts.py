"""Mass messages (客户群发) admin API (`/v1/broadcasts`, plan feature `mass_messages`); the policy that governs them is
`admin_broadcast_policy`.

Writers (admin, operator) create, preview, send, cancel and remind; readers (admin, operator, viewer) see everything;
a sales key sees only the broadcasts its employee sends in, with its own part and its own customers' results. A
created broadcast is sent at once (or at `send_at`) unless it is a `draft`; sending counts against the plan's mass
messages per month (402 when they are used up). Content is checked against add_msg_template's limits and the audience
against the filter's rules, each problem naming its field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalice import (
    BadRequestError,
    Blueprint,
    ChaliceViewError,
    ConflictError,
    NotFoundError,
    Response,
    TooManyRequestsError,
)

from chalicelib.api.auth import AdminCall, PaymentRequiredError, admin_route
from chalicelib.api.errors import answers
from chalicelib.api.schema import int_param, rule, str_param
from chalicelib.domain import plans, wecom_ids
from chalicelib.domain.access import EVERYONE, READERS, WRITERS, Principal, visible_employee
from chalicelib.domain.audience import SkipReason
from chalicelib.domain.broadcast_content import CHAT_TYPES
from chalicelib.domain.broadcast_policy import InvalidPolicy
from chalicelib.domain.broadcasts import (
    BROADCAST_ID_PATTERN,
    STATUSES,
    Broadcast,
    BroadcastConflict,
    BroadcastNotFound,
    InvalidBroadcast,
)
from chalicelib.domain.token_bucket import Throttled
from chalicelib.domain.wecom_limits import ATTACHMENTS_MAX, TEXT_MAX_BYTES

admin_broadcasts = Blueprint(__name__)

TAG = "broadcasts"
PAGE_MAX = 100
CURSOR_MAX = 2048
AUDIENCE_HELP = (
    "single: {all_customers | tags + tag_match any/all | excluded_tags | senders | departments | added_from/added_to "
    "(epoch s) | states | external_userids}; group: {chat_ids} (empty: all of the sender's groups) or "
    "{owners | state | joined_from/joined_to (epoch s)}"
)
PAGING = (
    ("limit", "integer", f"1 to {PAGE_MAX}, default 50"),
    ("cursor", "string", "next_cursor of the previous page"),
)


@dataclass(frozen=True)
class CreateBroadcast:
    text: str | None = field(default=None, metadata=rule(description=f"At most {TEXT_MAX_BYTES} bytes (UTF-8)"))
    attachments: list[dict[str, Any]] | None = field(
        default=None,
        metadata=rule(
            max_items=ATTACHMENTS_MAX,
            description="{material_id} from the material library, or inline {msgtype, image|link|miniprogram|"
            "video|file: {...}} as in add_msg_template",
        ),
    )
    audience: dict | None = field(default=None, metadata=rule(description=AUDIENCE_HELP))
    chat_type: str = field(default="single", metadata=rule(enum=CHAT_TYPES, description="customers or groups"))
    sender: str | None = field(
        default=None, metadata=rule(pattern=wecom_ids.USERID, description="The employee (required for group)")
    )
    send_at: int | None = field(default=None, metadata=rule(minimum=0, description="Epoch seconds; omit: now"))
    allow_select: bool = field(default=False, metadata=rule(description="Employees may edit the recipient list"))
    draft: bool = field(default=False, metadata=rule(description="Store only; send later with /send"))


@dataclass(frozen=True)
class PreviewBody:
    audience: dict | None = field(default=None, metadata=rule(description=AUDIENCE_HELP))
    chat_type: str = field(default="single", metadata=rule(enum=CHAT_TYPES))
    sender: str | None = field(default=None, metadata=rule(pattern=wecom_ids.USERID))
    send_at: int | None = field(default=None, metadata=rule(minimum=0, description="Epoch seconds; omit: now"))


@answers(InvalidBroadcast, InvalidPolicy)
def _invalid(error: Exception) -> ChaliceViewError:
    return BadRequestError(str(error))


@answers(BroadcastNotFound)
def _not_found(error: BroadcastNotFound) -> ChaliceViewError:
    return NotFoundError("no such broadcast")


@answers(BroadcastConflict)
def _conflict(error: BroadcastConflict) -> ChaliceViewError:
    return ConflictError(str(error))


@answers(plans.QuotaExceeded)
def _over_quota(error: plans.QuotaExceeded) -> ChaliceViewError:
    return PaymentRequiredError(str(error))


@answers(Throttled)
def _throttled(error: Throttled) -> ChaliceViewError:
    return TooManyRequestsError("WeCom's limits for this tenant are spent; try again in a minute")


def _content(body: CreateBroadcast) -> dict[str, Any]:
    return {"text": {"content": body.text or ""}, "attachments": list(body.attachments or [])}


def _audience(chat_type: str, audience: dict | None) -> dict[str, Any]:
    if audience is None and chat_type == "single":
        raise BadRequestError("field 'audience' is required when chat_type is single")
    return audience or {}


def _known_id(broadcast_id: str) -> str:
    """The id if it has the shape of a broadcast id; any other is simply not found."""
    if not BROADCAST_ID_PATTERN.fullmatch(broadcast_id):
        raise NotFoundError("no such broadcast")
    return broadcast_id


def _broadcast(principal: Principal, broadcast_id: str) -> tuple[Broadcast, dict[str, Any]]:
    """The broadcast and its view for this caller; 404 when absent or, for a sales key, not one its employee is in."""
    from chalicelib.services.broadcast_admin import sales_view
    from chalicelib.store.broadcasts import BroadcastStore

    store = BroadcastStore(principal.tenant_id)
    _known_id(broadcast_id)
    broadcast = store.get(broadcast_id)
    if broadcast is None:
        raise NotFoundError("no such broadcast")
    own = visible_employee(principal, None)
    if own is None:
        return broadcast, broadcast.to_json()
    mine = store.employee_result(broadcast_id, own)
    if mine is None:
        raise NotFoundError("no such broadcast")
    return broadcast, sales_view(broadcast, mine)


def _page_params(call: AdminCall) -> tuple[int, str | None]:
    from chalicelib.services.broadcast_admin import cursor_of_tenant

    limit = int_param(call.request, "limit", 50, 1, PAGE_MAX)
    try:
        cursor = cursor_of_tenant(call.principal.tenant_id, str_param(call.request, "cursor", CURSOR_MAX))
    except ValueError:
        raise BadRequestError("query parameter 'cursor' is not a cursor this API handed out") from None
    return limit, cursor


@admin_route(
    admin_broadcasts,
    "/v1/broadcasts",
    methods=["POST"],
    roles=WRITERS,
    summary="Create a mass message and send it now or at send_at (or keep it as a draft)",
    tag=TAG,
    body=CreateBroadcast,
    feature=plans.MASS_MESSAGES,
    audit="broadcast.create",
    success_status=201,
)
def create_broadcast(call: AdminCall) -> Response:
    from chalicelib.services.broadcast_admin import create

    body: CreateBroadcast = call.body
    broadcast = create(
        call.principal.tenant_id,
        draft=body.draft,
        content=_content(body),
        audience=_audience(body.chat_type, body.audience),
        chat_type=body.chat_type,
        sender=body.sender or "",
        send_at=body.send_at,
        allow_select=body.allow_select,
        created_by=call.principal.key_id,
    )
    call.target = broadcast.broadcast_id
    return Response({"broadcast": broadcast.to_json()}, status_code=201)


@admin_route(
    admin_broadcasts,
    "/v1/broadcasts/preview",
    methods=["POST"],
    roles=READERS,
    summary="Preview an audience: customers and employees reached, skipped by reason "
    f"({', '.join(r.value for r in SkipReason if r is not SkipReason.NOT_IN_AUDIENCE)})",
    tag=TAG,
    body=PreviewBody,
    feature=plans.MASS_MESSAGES,
    audit="broadcast.preview",
)
def preview_audience(call: AdminCall) -> dict[str, Any]:
    from chalicelib.services.broadcast_admin import preview

    body: PreviewBody = call.body
    figures = preview(
        call.principal.tenant_id,
        chat_type=body.chat_type,
        audience=_audience(body.chat_type, body.audience),
        sender=body.sender or "",
        send_at=body.send_at,
    )
    return {"preview": figures}


@admin_route(
    admin_broadcasts,
    "/v1/broadcasts",
    methods=["GET"],
    roles=EVERYONE,
    summary="Mass messages, newest first (a sales key: those its employee sends in)",
    tag=TAG,
    query=(("status", "string", ", ".join(STATUSES)), *PAGING),
)
def list_broadcasts(call: AdminCall) -> dict[str, Any]:
    from chalicelib.services.broadcast_admin import sales_view
    from chalicelib.store.broadcasts import BroadcastStore

    status = str_param(call.request, "status", 16)
    if status is not None and status not in STATUSES:
        raise BadRequestError(f"query parameter 'status' must be one of {', '.join(STATUSES)}")
    limit, cursor = _page_params(call)
    store = BroadcastStore(call.principal.tenant_id)
    page = store.list(limit=limit, cursor=cursor)
    own = visible_employee(call.principal, None)
    views = []
    for broadcast in page.items:
        if status is not None and broadcast.status != status:
            continue
        if own is None:
            views.append(broadcast.to_json())
        elif (mine := store.employee_result(broadcast.broadcast_id, own)) is not None:
            views.append(sales_view(broadcast, mine))
    return {"broadcasts": views, "next_cursor": page.cursor}


@admin_route(
    admin_broadcasts,
    "/v1/broadcasts/{broadcast_id}",
    methods=["GET"],
    roles=EVERYONE,
    summary="One mass message: status, planned, created at WeCom, confirmed, delivered, failed by reason, skipped",
    tag=TAG,
)
def get_broadcast(call: AdminCall, broadcast_id: str) -> dict[str, Any]:
    return {"broadcast": _broadcast(call.principal, broadcast_id)[1]}


@admin_route(
    admin_broadcasts,
    "/v1/broadcasts/{broadcast_id}/preview",
    methods=["GET"],
    roles=READERS,
    summary="Preview a stored mass message's audience as planning it now would reach it",
    tag=TAG,
    feature=plans.MASS_MESSAGES,
)
def preview_broadcast(call: AdminCall, broadcast_id: str) -> dict[str, Any]:
    from chalicelib.services.broadcast_admin import preview_stored

    return {"preview": preview_stored(call.principal.tenant_id, _known_id(broadcast_id))}


@admin_route(
    admin_broadcasts,
    "/v1/broadcasts/{broadcast_id}/send",
    methods=["POST"],
    roles=WRITERS,
    summary="Send a draft now (or schedule it for its send_at); counts against the plan's monthly mass messages",
    tag=TAG,
    feature=plans.MASS_MESSAGES,
    audit="broadcast.send",
)
def send_broadcast(call: AdminCall, broadcast_id: str) -> dict[str, Any]:
    from chalicelib.services.broadcast_admin import send

    call.target = broadcast_id
    return {"broadcast": send(call.principal.tenant_id, _known_id(broadcast_id)).to_json()}


@admin_route(
    admin_broadcasts,
    "/v1/broadcasts/{broadcast_id}/cancel",
    methods=["POST"],
    roles=WRITERS,
    summary="Cancel a mass message that is not done (tasks already created at WeCom are cancelled there)",
    tag=TAG,
    audit="broadcast.cancel",
)
def cancel(call: AdminCall, broadcast_id: str) -> dict[str, Any]:
    from chalicelib.services.broadcasts import cancel_broadcast

    call.target = broadcast_id
    return {"broadcast": cancel_broadcast(call.principal.tenant_id, _known_id(broadcast_id)).to_json()}


@admin_route(
    admin_broadcasts,
    "/v1/broadcasts/{broadcast_id}/remind",
    methods=["POST"],
    roles=WRITERS,
    summary="Remind the employees who have not confirmed (WeCom allows 3 reminders per task per 24 hours)",
    tag=TAG,
    audit="broadcast.remind",
)
def remind(call: AdminCall, broadcast_id: str) -> dict[str, Any]:
    from chalicelib.services.broadcasts import remind_broadcast

    call.target = broadcast_id
    return {"reminders": remind_broadcast(call.principal.tenant_id, _known_id(broadcast_id))}


@admin_route(
    admin_broadcasts,
    "/v1/broadcasts/{broadcast_id}/employees",
    methods=["GET"],
    roles=EVERYONE,
    summary="Per-employee results: confirmed, send time, recipients by status, reminders (a sales key: its own)",
    tag=TAG,
    query=PAGING,
)
def employee_results(call: AdminCall, broadcast_id: str) -> dict[str, Any]:
    from chalicelib.store.broadcasts import BroadcastStore

    _broadcast(call.principal, broadcast_id)
    limit, cursor = _page_params(call)
    store = BroadcastStore(call.principal.tenant_id)
    own = visible_employee(call.principal, None)
    if own is not None:
        mine = store.employee_result(broadcast_id, own)
        return {"employees": [mine.to_json()] if mine else [], "next_cursor": None}
    page = store.employee_results(broadcast_id, limit, cursor)
    return {"employees": [e.to_json() for e in page.items], "next_cursor": page.cursor}


@admin_route(
    admin_broadcasts,
    "/v1/broadcasts/{broadcast_id}/customers",
    methods=["GET"],
    roles=EVERYONE,
    summary="Per-customer results: sent, not_friend, over_quota, rejected, failed, unsent (a sales key: its own)",
    tag=TAG,
    query=PAGING,
)
def customer_results(call: AdminCall, broadcast_id: str) -> dict[str, Any]:
    from chalicelib.store.broadcasts import BroadcastStore

    _broadcast(call.principal, broadcast_id)
    limit, cursor = _page_params(call)
    page = BroadcastStore(call.principal.tenant_id).customer_results(broadcast_id, limit, cursor)
    own = visible_employee(call.principal, None)
    rows = [r.to_json() for r in page.items if own is None or r.userid == own]
    return {"customers": rows, "next_cursor": page.cursor}


@admin_route(
    admin_broadcasts,
    "/v1/broadcasts/{broadcast_id}/batches",
    methods=["GET"],
    roles=READERS,
    summary="Dispatch batches: sender, size, status, attempts, WeCom msgid, failure reason, recipients refused",
    tag=TAG,
    query=PAGING,
)
def batches(call: AdminCall, broadcast_id: str) -> dict[str, Any]:
    from chalicelib.store.broadcasts import BroadcastStore

    _broadcast(call.principal, broadcast_id)
    limit, cursor = _page_params(call)
    page = BroadcastStore(call.principal.tenant_id).batches(broadcast_id, limit, cursor)
    return {"batches": [b.to_json() for b in page.items], "next_cursor": page.cursor}
