"""Identifying a shared page's viewer through WeChat, and the tenant's WeChat apps.

`finish_oauth` is where WeChat's OAuth page returns (`/s/<token>/oauth?code&state`): it trades the code for the
openid (and unionid), asks for `snsapi_userinfo` only when no unionid is known and the tenant allows it, matches the
unionid to the tenant's customer through the profiles' unionid index, and hands the browser a viewer token (consent
recorded in it) as a cookie before going back to the page. WeChat failing leaves the page anonymous, never broken and
never in a redirect loop. `mini_program_session` does the same for a mini-program's `wx.login` code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from chalicelib.config import get_settings
from chalicelib.domain import signed_tokens
from chalicelib.domain import wechat_identity as identity
from chalicelib.domain.signed_tokens import ViewerClaims
from chalicelib.observability import logger
from chalicelib.services import oauth_nonces, share_links, share_page
from chalicelib.services.share_page import HtmlAnswer, OpenedShare
from chalicelib.store.customers import CustomerStore
from chalicelib.store.wechat_accounts import MP_SECRET, OA_SECRET, WeChatAccounts, WeChatApps
from chalicelib.wecom import wechat
from chalicelib.wecom.wechat import WeChatUnavailable, WeChatViewer


@dataclass(frozen=True)
class ViewerSession:
    """A viewer token for a mini-program and how long it lives."""

    viewer: str
    expires_in: int
    identified: bool


def configure(tenant_id: str, apps: WeChatApps, oa_secret: str | None, mp_secret: str | None) -> WeChatApps:
    """Store the tenant's official account and mini-program (secrets to the secret store); the apps as stored."""
    WeChatAccounts(tenant_id).put(apps, oa_secret, mp_secret, int(time.time()))
    share_page.forget_wechat_apps(tenant_id)
    return WeChatAccounts(tenant_id).get()


def configured_apps(tenant_id: str) -> WeChatApps:
    return WeChatAccounts(tenant_id).get()


def finish_oauth(token: str, code: str, state: str, cookie_header: str | None, now: float) -> HtmlAnswer:
    """WeChat's OAuth return: the viewer cookie and a redirect to the page, the `snsapi_userinfo` step, or (WeChat
    failing, or a state that is not this browser's nonce) the anonymous page itself."""
    opened = share_page.open_page(token, now)
    if opened is None:
        return share_page.not_found()
    tenant_id = opened.claims.tenant_id
    accounts = WeChatAccounts(tenant_id)
    if not opened.apps.oa_appid or not code:
        return share_page.render(opened, token, "", consent_choice=False)
    mark, nonce = identity.state_parts(state)
    kept = identity.read_cookies(cookie_header).get(identity.OAUTH_NONCE_COOKIE, "")
    if not oauth_nonces.matches(kept, tenant_id, nonce, now):
        logger.info("WeChat OAuth return refused: its state is not this browser's")
        return share_page.render(opened, token, "", consent_choice=False)
    try:
        viewer = wechat.oauth_access_token(get_settings(), opened.apps.oa_appid, accounts.secret(OA_SECRET), code)
        if mark == identity.STATE_USERINFO:
            unionid = viewer.unionid or wechat.user_unionid(get_settings(), viewer)
        else:
            step, unionid = identity.after_base(
                unionid_from_wechat=viewer.unionid,
                remembered_unionid=accounts.unionid_of(viewer.openid),
                allow_userinfo=opened.apps.allow_userinfo,
            )
            if step is identity.AfterBase.AUTHORIZE_USERINFO:
                return share_page.authorize(opened, token, wechat.USERINFO, now)
    except WeChatUnavailable as error:
        logger.warning("WeChat OAuth failed; anonymous view", extra={"error": str(error)})
        return share_page.render(opened, token, "", consent_choice=True)
    return _identified(opened, token, accounts, viewer, unionid, now)


def _identified(
    opened: OpenedShare, token: str, accounts: WeChatAccounts, viewer: WeChatViewer, unionid: str, now: float
) -> HtmlAnswer:
    tenant_id = opened.claims.tenant_id
    if viewer.unionid or (unionid and not accounts.unionid_of(viewer.openid)):
        accounts.remember_unionid(viewer.openid, unionid, int(now))
    viewer_token = signed_tokens.sign(
        viewer_claims(tenant_id, viewer.openid, unionid, now), share_links.share_keys_of(tenant_id)
    )
    secure = get_settings().public_base_url.startswith("https://")
    cookie = identity.set_cookie(
        identity.viewer_cookie(tenant_id), viewer_token, signed_tokens.VIEWER_LIFETIME_SECONDS, "/", secure
    )
    return share_page.redirect(share_page.page_url(token), [cookie, share_page.nonce_cookie("", 0)])


def viewer_claims(tenant_id: str, openid: str, unionid: str, now: float) -> ViewerClaims:
    """A consented viewer, naming the tenant's customer with this unionid when there is one (the unionid index)."""
    external_userid = CustomerStore(tenant_id).customer_of_unionid(unionid) or ""
    return ViewerClaims(tenant_id, openid, unionid, external_userid, True, int(now))


def mini_program_session(share: str, code: str, now: float) -> ViewerSession:
    """`POST /t/mp/session`: a mini-program's `wx.login` code traded for a viewer token. A mini-program may only call
    `wx.login` for this after its user accepted its privacy guide (WeChat's rule since 2023), which is the consent.
    Raises InvalidToken, wechat.MiniProgramNotConfigured or WeChatUnavailable."""
    claims = share_links.open_share(share, now)
    apps = share_page.wechat_apps(claims.tenant_id)
    if not apps.mp_appid:
        raise wechat.MiniProgramNotConfigured(claims.tenant_id)
    secret = WeChatAccounts(claims.tenant_id).secret(MP_SECRET)
    viewer = wechat.jscode2session(get_settings(), apps.mp_appid, secret, code)
    viewer_of = viewer_claims(claims.tenant_id, viewer.openid, viewer.unionid, now)
    token = signed_tokens.sign(viewer_of, share_links.share_keys_of(claims.tenant_id))
    return ViewerSession(token, signed_tokens.VIEWER_LIFETIME_SECONDS, bool(viewer_of.external_userid))
