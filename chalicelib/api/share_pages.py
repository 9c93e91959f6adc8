"""The public side of a share link: the page (`GET /s/{token}`), its consent choice and WeChat's OAuth return, its
script and style (`GET /page-assets/{name}`), and a mini-program's session (`POST /t/mp/session`).

Every page route checks its token itself (`path_params.SELF_CHECKED`) so that any bad link, malformed or forged,
answers the same plain 404 page. Handlers parse the request, call one function, shape the answer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from chalice import BadRequestError, Blueprint, ChaliceViewError, NotFoundError, Response

from chalicelib.api.errors import answered, answers
from chalicelib.api.html_pages import html_response, query_value
from chalicelib.api.schema import parse_body, rule
from chalicelib.domain.signed_tokens import MAX_TOKEN_LENGTH, InvalidToken
from chalicelib.services import page_assets
from chalicelib.wecom.wechat import MiniProgramNotConfigured, WeChatUnavailable

share_pages = Blueprint(__name__)

PAGE_PATH = "/s/{token}"
OAUTH_PATH = "/s/{token}/oauth"
CONSENT_PATH = "/s/{token}/consent"
ASSET_PATH = page_assets.ROUTE_PREFIX + "{name}"
ASSET_CACHE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class MiniProgramSession:
    share: str = field(metadata=rule(min_length=1, max_length=MAX_TOKEN_LENGTH, description="The share token"))
    code: str = field(metadata=rule(min_length=1, max_length=128, description="What wx.login gave the mini-program"))


@answers(InvalidToken)
def _bad_share(error: InvalidToken) -> ChaliceViewError:
    return NotFoundError("no such share link")


@answers(MiniProgramNotConfigured)
def _no_mini_program(error: MiniProgramNotConfigured) -> ChaliceViewError:
    return NotFoundError("the share's company has no mini-program configured")


@answers(WeChatUnavailable)
def _wechat_refused(error: WeChatUnavailable) -> ChaliceViewError:
    return BadRequestError(f"WeChat did not accept the code ({error})")


@share_pages.route(PAGE_PATH, methods=["GET"])
def open_shared_page(token: str) -> Response:
    from chalicelib.services import share_page

    headers = share_pages.current_request.headers
    return html_response(share_page.landing(token, headers.get("user-agent"), headers.get("cookie"), time.time()))


@share_pages.route(CONSENT_PATH, methods=["GET"])
def choose_consent(token: str) -> Response:
    from chalicelib.services import share_page

    choice = query_value(share_pages.current_request, "choice")
    return html_response(share_page.record_consent(token, choice, time.time()))


@share_pages.route(OAUTH_PATH, methods=["GET"])
def wechat_oauth_return(token: str) -> Response:
    from chalicelib.services import wechat_identity

    request = share_pages.current_request
    code, state = query_value(request, "code"), query_value(request, "state")
    cookies = request.headers.get("cookie")
    return html_response(wechat_identity.finish_oauth(token, code, state, cookies, time.time()))


@share_pages.route(ASSET_PATH, methods=["GET"])
def page_asset(name: str) -> Response:
    from chalicelib.services import share_page

    asset = page_assets.asset(name)
    if asset is None:
        return html_response(share_page.not_found())
    headers = {"Content-Type": asset.content_type, "Cache-Control": ASSET_CACHE, "X-Content-Type-Options": "nosniff"}
    return Response(body=asset.body, headers=headers)


@share_pages.route("/t/mp/session", methods=["POST"])
@answered
def mini_program_session() -> dict[str, Any]:
    from chalicelib.services import wechat_identity

    body = parse_body(share_pages.current_request, MiniProgramSession)
    session = wechat_identity.mini_program_session(body.share, body.code, time.time())
    return {"viewer": session.viewer, "expires_in": session.expires_in, "identified": session.identified}
