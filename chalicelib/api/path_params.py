"""Path parameters checked at the edge: every `{name}` in a route's path has a declared shape, and a request whose
parameter does not match it whole (`re.fullmatch`) is answered 404 before any route runs.

An id in a path becomes part of a DynamoDB key or a WeCom call; unchecked, a 10 KB id builds a key DynamoDB refuses
(a 500) and `abc\\n` slips past `^…$` checks made with `re.match`. The check is Chalice middleware, so it covers the
admin, ops and callback routes alike; `admin_route` refuses to register a path with an undeclared parameter, and the
OpenAPI document shows each parameter's pattern.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from chalice import NotFoundError, Response
from chalice.app import Request

from chalicelib.api.errors import error_response
from chalicelib.domain import wecom_ids
from chalicelib.domain.access import KEY_ID_PATTERN
from chalicelib.domain.broadcasts import BROADCAST_ID_PATTERN
from chalicelib.domain.materials import MATERIAL_ID_PATTERN
from chalicelib.store.keys import TENANT_ID_PATTERN

SELF_CHECKED = {
    ("/wecom/{tenant_id}/callback", "tenant_id"),
    ("/s/{token}", "token"),
    ("/s/{token}/oauth", "token"),
    ("/s/{token}/consent", "token"),
    ("/page-assets/{name}", "name"),
    ("/sales/customers/{token}", "token"),
    ("/sales/customers/{token}/oauth", "token"),
}
"""Parameters a route checks itself: WeCom's callback answers a malformed tenant id exactly as an unknown one and as
a bad signature (`api/callbacks.py`), so a prober without a valid signature learns nothing from the shape; a shared
page and the sales view answer any bad link, malformed or forged, with the same plain 404 page (`api/share_pages.py`,
`api/sales_pages.py`)."""


@dataclass(frozen=True)
class PathParam:
    """The shape of one path parameter and what it names (for "no such …")."""

    pattern: str
    names: str


PATH_PARAMS: dict[str, PathParam] = {
    "tenant_id": PathParam(TENANT_ID_PATTERN.pattern, "tenant"),
    "key_id": PathParam(KEY_ID_PATTERN.pattern, "API key"),
    "broadcast_id": PathParam(BROADCAST_ID_PATTERN.pattern, "broadcast"),
    "material_id": PathParam(MATERIAL_ID_PATTERN.pattern, "material"),
    "channel_id": PathParam(wecom_ids.CONFIG_ID, "channel"),
    "link_id": PathParam(wecom_ids.CONFIG_ID, "acquisition link"),
    "moment_task_id": PathParam(r"^mt[0-9a-f]{20}$", "moment task"),
    "customer_id": PathParam(wecom_ids.EXTERNAL_USERID, "customer"),
    "userid": PathParam(wecom_ids.USERID, "employee"),
    "employee_userid": PathParam(wecom_ids.USERID, "employee"),
    "tag_id": PathParam(wecom_ids.TAG_ID, "tag"),
    "group_id": PathParam(wecom_ids.TAG_ID, "tag group"),
    "chat_id": PathParam(wecom_ids.CHAT_ID, "group chat"),
    "join_way_id": PathParam(wecom_ids.CONFIG_ID, "join way"),
    "template_id": PathParam(wecom_ids.CONFIG_ID, "group welcome template"),
}


def names_in(path: str) -> list[str]:
    """The parameter names of a route path, in order."""
    return re.findall(r"{(\w+)}", path)


def undeclared(path: str) -> list[str]:
    """The parameters of `path` that have no declared shape (a programming error)."""
    return [name for name in names_in(path) if name not in PATH_PARAMS]


def problem(name: str, value: str) -> str | None:
    """Why `value` cannot be the path parameter `name`, or None when it can."""
    shape = PATH_PARAMS.get(name)
    if shape is None:
        return f"no such resource: path parameter '{name}' is not declared"
    if re.fullmatch(shape.pattern, value) is None:
        return f"no such {shape.names}: '{name}' must match {shape.pattern}"
    return None


def check_path_params(request: Request | None, get_response: Callable[[Request | None], Response]) -> Response:
    """Chalice HTTP middleware: 404 (a JSON error naming the parameter and its shape) for a malformed path parameter."""
    route = (request.context or {}).get("resourcePath", "") if request is not None else ""
    for name, value in ((request.uri_params or {}) if request is not None else {}).items():
        if (route, name) in SELF_CHECKED:
            continue
        reason = problem(name, value)
        if reason is not None:
            return error_response(NotFoundError(reason))
    return get_response(request)
