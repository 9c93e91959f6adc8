"""The sales view an alert card opens inside WeCom (`GET /sales/customers/{token}`) and WeCom's OAuth return to it
(`GET /sales/customers/{token}/oauth`).

Both check their token themselves (`path_params.SELF_CHECKED`), so any bad link answers the shared pages' plain 404.
Handlers parse the request, call one function, shape the answer.
"""

from __future__ import annotations

import time

from chalice import Blueprint, Response

from chalicelib.api.html_pages import html_response, query_value

sales_pages = Blueprint(__name__)

PAGE_PATH = "/sales/customers/{token}"
OAUTH_PATH = "/sales/customers/{token}/oauth"


@sales_pages.route(PAGE_PATH, methods=["GET"])
def open_sales_page(token: str) -> Response:
    from chalicelib.services import sales_page

    return html_response(sales_page.open_page(token, sales_pages.current_request.headers.get("cookie"), time.time()))


@sales_pages.route(OAUTH_PATH, methods=["GET"])
def wecom_oauth_return(token: str) -> Response:
    from chalicelib.services import staff_oauth

    request = sales_pages.current_request
    code, state = query_value(request, "code"), query_value(request, "state")
    return html_response(staff_oauth.finish(token, code, state, request.headers.get("cookie"), time.time()))
