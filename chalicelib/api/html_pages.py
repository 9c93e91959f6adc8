"""What the HTML page routes (share pages, the sales view) share: their answers as Chalice responses, and query values
bounded in length (a longer one is treated as absent: no code or state WeCom or WeChat sends is that long)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Response
from chalice.app import Request

if TYPE_CHECKING:
    from chalicelib.services.share_page import HtmlAnswer

QUERY_VALUE_MAX = 512


def html_response(answer: HtmlAnswer) -> Response:
    return Response(body=answer.body, status_code=answer.status, headers=answer.headers)


def query_value(request: Request, name: str) -> str:
    """The query parameter `name`, or "" when it is missing or longer than QUERY_VALUE_MAX."""
    value = (request.query_params or {}).get(name, "")
    return value if len(value) <= QUERY_VALUE_MAX else ""
