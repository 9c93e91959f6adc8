"""Naming the employee who opens the sales view: WeCom's web OAuth for the corp's members, then a session cookie.

Without a session for the link's tenant, the page sends the browser to the authorize page of the tenant's app, with a
fresh nonce as `state` and the same nonce kept in a signed cookie of ten minutes. WeCom sends the browser back to
`/sales/customers/<token>/oauth?code&state`; `finish` refuses a state that is not this browser's nonce, trades the
code (once) through the tenant's WeCom client (`auth/getuserinfo`), refuses anyone who is not a member, and sets the
member's signed session cookie (tenant + userid, 8 hours, path `/sales/`) before going back to the page. Every cookie
is signed with the tenant's share keys, so none is valid for another tenant.
"""

from __future__ import annotations

from chalicelib.config import get_settings
from chalicelib.domain import customer_page, sales_access, signed_tokens
from chalicelib.domain.landing_page import HTML_HEADERS
from chalicelib.domain.signed_tokens import InvalidToken, SalesLinkClaims, StaffSessionClaims
from chalicelib.domain.wechat_identity import read_cookies, set_cookie
from chalicelib.observability import logger
from chalicelib.services import oauth_nonces, page_assets, sales_links, share_links, share_page
from chalicelib.services.share_page import HtmlAnswer
from chalicelib.services.tenant_wecom import tenant_wecom
from chalicelib.store.tenants import get_app_credentials
from chalicelib.wecom import member_oauth
from chalicelib.wecom.errors import OutcomeUnknown, WeComError, WeComUnavailable

EXPIRED = ("登录已失效", "请回到企业微信，从消息中重新打开。")
STAFF_ONLY = ("仅限企业员工", "此页面仅供企业成员在企业微信中查看。")
UNAVAILABLE = ("暂时无法确认身份", "企业微信暂时没有应答，请稍后再试。")


def cookie_path() -> str:
    return f"{share_page.base_path()}/sales/"


def page_path(token: str) -> str:
    """The page's path on this stack (under its stage path), for redirects back to it."""
    return f"{share_page.base_path()}{sales_links.PAGE_PREFIX}{token}"


def style_url() -> str:
    return f"{share_page.base_path()}{page_assets.ROUTE_PREFIX}{page_assets.hashed_name('sales.css')}"


def refused(status: int, reason: tuple[str, str], cookies: list[str] | None = None) -> HtmlAnswer:
    """A plain page saying why the employee cannot go on."""
    headers: dict[str, str | list[str]] = dict(HTML_HEADERS)
    if cookies:
        headers["Set-Cookie"] = cookies
    return HtmlAnswer(status, customer_page.render_refused(reason[0], reason[1], style_url()), headers)


def session_of(cookie_header: str | None, tenant_id: str, now: float) -> str:
    """The userid of the employee's valid session for this tenant, or empty."""
    token = read_cookies(cookie_header).get(sales_access.session_cookie(tenant_id), "")
    if not token:
        return ""
    try:
        claims = signed_tokens.verify(token, StaffSessionClaims, share_links.share_keys_of, now)
    except InvalidToken:
        return ""
    return claims.userid if claims.tenant_id == tenant_id else ""


def authorize(link: SalesLinkClaims, token: str, now: float) -> HtmlAnswer:
    """The redirect into WeCom's silent OAuth for the link's tenant, with this browser's nonce cookie."""
    credentials = get_app_credentials(link.tenant_id)
    if credentials is None:
        return share_page.not_found()
    settings = get_settings()
    nonce, kept = oauth_nonces.issue(link.tenant_id, now)
    back = f"{settings.public_base_url}{sales_links.PAGE_PREFIX}{token}/oauth"
    location = member_oauth.authorize_url(settings, credentials.corp_id, credentials.agent_id, back, nonce)
    cookie = _cookie(sales_access.NONCE_COOKIE, kept, signed_tokens.OAUTH_NONCE_LIFETIME_SECONDS)
    return share_page.redirect(location, [cookie])


def finish(token: str, code: str, state: str, cookie_header: str | None, now: float) -> HtmlAnswer:
    """WeCom's return: the member's session cookie and a redirect to the page, or a refusal (a state that is not
    this browser's, a code WeCom does not accept, a person who is not a member)."""
    link = sales_links.open_link(token, now)
    if link is None:
        return share_page.not_found()
    forget_nonce = _cookie(sales_access.NONCE_COOKIE, "", 0)
    kept = read_cookies(cookie_header).get(sales_access.NONCE_COOKIE, "")
    if not code or not oauth_nonces.matches(kept, link.tenant_id, state, now):
        return refused(403, EXPIRED, [forget_nonce])
    try:
        user = member_oauth.user_of_code(tenant_wecom(link.tenant_id), code)
    except WeComError as error:
        logger.info("WeCom refused an OAuth code", extra={"errcode": error.errcode})
        return refused(403, EXPIRED, [forget_nonce])
    except (WeComUnavailable, OutcomeUnknown) as error:
        logger.warning("WeCom OAuth unanswered", extra={"error": type(error).__name__})
        return refused(503, UNAVAILABLE, [forget_nonce])
    if not user.userid:
        return refused(403, STAFF_ONLY, [forget_nonce])
    session = signed_tokens.sign(
        StaffSessionClaims(link.tenant_id, user.userid, int(now)), share_links.signing_keys(link.tenant_id)
    )
    lifetime = signed_tokens.STAFF_SESSION_LIFETIME_SECONDS
    cookies = [_cookie(sales_access.session_cookie(link.tenant_id), session, lifetime), forget_nonce]
    return share_page.redirect(page_path(token), cookies)


def _cookie(name: str, value: str, max_age: int) -> str:
    secure = get_settings().public_base_url.startswith("https://")
    return set_cookie(name, value, max_age, cookie_path(), secure)
