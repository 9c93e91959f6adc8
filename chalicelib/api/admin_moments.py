"""Customer moments admin API (`/v1/moments`, plan feature `mass_messages`): create a moment task (text and up to
nine images, or a video, or a link from the material library) for the customers of chosen employees or departments,
optionally narrowed by corp tags, now or at a time; follow it (counts, per employee, per customer, paged); cancel.

A task refused for the month (WeCom allows 100,000 a company) is answered 429 at creation and not stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalice import BadRequestError, Blueprint, ConflictError, NotFoundError, Response, TooManyRequestsError

from chalicelib.api.auth import AdminCall, admin_route
from chalicelib.api.schema import int_param, rule, str_param
from chalicelib.domain import plans, wecom_ids
from chalicelib.domain.access import READERS, WRITERS
from chalicelib.domain.materials import MATERIAL_ID_PATTERN
from chalicelib.domain.wecom_limits import MOMENT_IMAGES_MAX, MOMENT_TEXT_MAX_CHARS, MOMENT_VISIBLE_USERS_MAX

admin_moments = Blueprint(__name__)

TAG = "moments"
DEPARTMENT_ID_MAX = 2**31 - 1
SCHEDULED_AT_MAX = 4_102_444_800
"""2100-01-01: a schedule beyond that is a mistake, not a plan."""
PAGE_QUERY = (("limit", "integer", "1 to 200 (default 50)"), ("cursor", "string", "from the previous page"))


@dataclass(frozen=True)
class CreateMoment:
    text: str = field(default="", metadata=rule(max_length=MOMENT_TEXT_MAX_CHARS))
    material_ids: list[str] | None = field(
        default=None,
        metadata=rule(
            pattern=MATERIAL_ID_PATTERN.pattern,
            max_items=MOMENT_IMAGES_MAX,
            description="Up to 9 images, or one video, or one link",
        ),
    )
    userids: list[str] | None = field(
        default=None,
        metadata=rule(pattern=wecom_ids.USERID, max_items=MOMENT_VISIBLE_USERS_MAX, description="Whose customers"),
    )
    department_ids: list[int] | None = field(
        default=None, metadata=rule(minimum=1, maximum=DEPARTMENT_ID_MAX, max_items=1000)
    )
    tag_ids: list[str] | None = field(
        default=None, metadata=rule(pattern=wecom_ids.TAG_ID, max_items=1000, description="Only customers with one")
    )
    scheduled_at: int | None = field(
        default=None,
        metadata=rule(minimum=0, maximum=SCHEDULED_AT_MAX, description="Epoch seconds; now when omitted"),
    )


def _context(call: AdminCall) -> Any:
    from chalicelib.services.tenant_context import TenantContext

    return TenantContext(call.principal.tenant_id)


def _task(ctx: Any, task_id: str) -> Any:
    from chalicelib.services.moments import moments

    task = moments(ctx).get(task_id)
    if task is None:
        raise NotFoundError("no such moment task")
    return task


def _page(call: AdminCall) -> tuple[int, str | None]:
    return int_param(call.request, "limit", 50, 1, 200), str_param(call.request, "cursor", 2048)


@admin_route(
    admin_moments,
    "/v1/moments",
    methods=["POST"],
    roles=WRITERS,
    summary="Create a customer moment task, now or scheduled",
    tag=TAG,
    body=CreateMoment,
    feature=plans.MASS_MESSAGES,
    audit="moment.create",
    success_status=201,
)
def create_moment(call: AdminCall) -> Response:
    from chalicelib.domain.broadcast_content import InvalidContent
    from chalicelib.domain.moments import InvalidMoment, MomentTask
    from chalicelib.services import moments
    from chalicelib.services.materials import MaterialLibrary, MaterialUnavailable
    from chalicelib.store.materials import MaterialNotFound

    body: CreateMoment = call.body
    ctx = _context(call)
    try:
        attachments = MaterialLibrary(ctx.tenant_id).moment_attachments(body.material_ids or ())
        draft = MomentTask(
            task_id=moments.new_task_id(),
            status="",
            text=body.text,
            attachments=tuple(attachments),
            userids=tuple(dict.fromkeys(body.userids or ())),
            department_ids=tuple(dict.fromkeys(body.department_ids or ())),
            tag_ids=tuple(dict.fromkeys(body.tag_ids or ())),
            scheduled_at=body.scheduled_at or 0,
        )
        task = moments.create_task(ctx, draft)
    except (InvalidContent, InvalidMoment) as error:
        raise BadRequestError(str(error)) from None
    except MaterialNotFound as error:
        raise BadRequestError(f"field 'material_ids': {error}") from None
    except MaterialUnavailable as error:
        raise BadRequestError(f"field 'material_ids': {error}") from None
    except moments.MonthlyCapReached as error:
        raise TooManyRequestsError(str(error)) from None
    call.target = task.task_id
    return Response({"moment": task.as_dict()}, status_code=201)


@admin_route(
    admin_moments,
    "/v1/moments",
    methods=["GET"],
    roles=READERS,
    summary="Moment tasks, newest first",
    tag=TAG,
    query=PAGE_QUERY,
)
def list_moments(call: AdminCall) -> dict[str, Any]:
    from chalicelib.services.moments import moments

    limit, cursor = _page(call)
    page = moments(_context(call)).page(limit, cursor)
    return {"moments": [t.as_dict() for t in page.items], "next_cursor": page.cursor}


@admin_route(
    admin_moments,
    "/v1/moments/{moment_task_id}",
    methods=["GET"],
    roles=READERS,
    summary="One moment task with its counts: employees, published, customers reached, comments, likes",
    tag=TAG,
)
def get_moment(call: AdminCall, moment_task_id: str) -> dict[str, Any]:
    return {"moment": _task(_context(call), moment_task_id).as_dict()}


@admin_route(
    admin_moments,
    "/v1/moments/{moment_task_id}/employees",
    methods=["GET"],
    roles=READERS,
    summary="Per employee: published or not, customers reached, comments and likes, reminded",
    tag=TAG,
    query=PAGE_QUERY,
)
def moment_employees(call: AdminCall, moment_task_id: str) -> dict[str, Any]:
    from chalicelib.services.moments import moments

    ctx = _context(call)
    _task(ctx, moment_task_id)
    limit, cursor = _page(call)
    page = moments(ctx).employees(moment_task_id, limit, cursor)
    return {"employees": [e.as_dict() for e in page.items], "next_cursor": page.cursor}


@admin_route(
    admin_moments,
    "/v1/moments/{moment_task_id}/customers",
    methods=["GET"],
    roles=READERS,
    summary="Per customer (through each employee): reached, comments, liked",
    tag=TAG,
    query=PAGE_QUERY,
)
def moment_customers(call: AdminCall, moment_task_id: str) -> dict[str, Any]:
    from chalicelib.services.moments import moments

    ctx = _context(call)
    _task(ctx, moment_task_id)
    limit, cursor = _page(call)
    page = moments(ctx).customers(moment_task_id, limit, cursor)
    return {"customers": [c.as_dict() for c in page.items], "next_cursor": page.cursor}


@admin_route(
    admin_moments,
    "/v1/moments/{moment_task_id}/cancel",
    methods=["POST"],
    roles=WRITERS,
    summary="Cancel a moment task (in WeCom too, once posted)",
    tag=TAG,
    feature=plans.MASS_MESSAGES,
    audit="moment.cancel",
)
def cancel_moment(call: AdminCall, moment_task_id: str) -> dict[str, Any]:
    from chalicelib.services.moments import NotCancellable, cancel
    from chalicelib.store.dynamo import Conflict

    ctx = _context(call)
    try:
        task = cancel(ctx, _task(ctx, moment_task_id))
    except (NotCancellable, Conflict) as error:
        raise ConflictError(f"cannot cancel: {error}") from None
    call.target = moment_task_id
    return {"moment": task.as_dict()}
