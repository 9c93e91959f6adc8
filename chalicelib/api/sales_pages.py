"""The sales view an alert card opens inside WeCom (`GET /sales/customers/{token}`) and WeCom's OAuth return to it
(`GET /sales/customers/{token}/oauth`).

Both check their token themselves (`path_params.SELF_CHECKED`), so any bad link answers the shared pages' plain 404.
Handlers parse the request, call one function, shape the answer.
"""

from __future__ import annotations

import time

from chalice import Blueprint, Response

from chalicelib.services import sales_page, staff_oauth
from chalicelib.services.share_page import HtmlAnswer

sales_pages = Blueprint(__name__)

PAGE_PATH = "/sales/customers/{token}"
OAUTH_PATH = "/sales/customers/{token}/oauth"
QUERY_VALUE_MAX = 512


def _html(answer: HtmlAnswer) -> Response:
    return Response(body=answer.body, status_code=answer.status, headers=answer.headers)


def _query(name: str) -> str:
    value = (sales_pages.current_request.query_params or {}).get(name, "")
    return value if len(value) <= QUERY_VALUE_MAX else ""


@sales_pages.route(PAGE_PATH, methods=["GET"])
def open_sales_page(token: str) -> Response:
    return _html(sales_page.open_page(token, sales_pages.current_request.headers.get("cookie"), time.time()))


@sales_pages.route(OAUTH_PATH, methods=["GET"])
def wecom_oauth_return(token: str) -> Response:
    cookies = sales_pages.current_request.headers.get("cookie")
    return _html(staff_oauth.finish(token, _query("code"), _query("state"), cookies, time.time()))
