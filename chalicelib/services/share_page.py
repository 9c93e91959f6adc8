"""The shared page (`GET /s/<token>`): verify the link, read the material and the sharer's card, decide who the viewer
is (see `domain.wechat_identity`) and answer HTML, a redirect into WeChat's OAuth, or the consent question.

A bad link (forged, altered, expired, another tenant's key, a material since deleted) answers the same plain 404 page.
Verifying costs no database read on a warm process (`share_links`); the page then reads the material (one GetItem),
the tenant's WeChat apps and the sharer's card, the last two from bounded in-process caches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from chalicelib.config import get_settings
from chalicelib.domain import landing_page, signed_tokens
from chalicelib.domain import wechat_identity as identity
from chalicelib.domain.landing_page import HTML_HEADERS, PageContext, PageMaterial, SharerCard
from chalicelib.domain.signed_tokens import InvalidToken, ShareClaims
from chalicelib.domain.ttl_cache import TtlCache
from chalicelib.observability import logger
from chalicelib.services import oauth_nonces, page_assets, share_links
from chalicelib.services.tenant_wecom import has_credentials, tenant_wecom
from chalicelib.store.channels import ChannelStore
from chalicelib.store.materials import Material, MaterialStore
from chalicelib.store.tenants import get_tenant_cached
from chalicelib.store.wechat_accounts import WeChatAccounts, WeChatApps
from chalicelib.wecom import wechat
from chalicelib.wecom.errors import WeComError, WeComUnavailable

CACHE_SECONDS = 300.0
CACHE_ENTRIES = 4096
_apps: TtlCache[str, WeChatApps] = TtlCache(max_entries=CACHE_ENTRIES)
_cards: TtlCache[tuple[str, str], SharerCard] = TtlCache(max_entries=CACHE_ENTRIES)


@dataclass(frozen=True)
class HtmlAnswer:
    """An HTTP answer of the page routes: status, body and headers (`Set-Cookie` may be a list)."""

    status: int
    body: str
    headers: dict[str, str | list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class OpenedShare:
    """A verified link with what its page shows."""

    claims: ShareClaims
    material: PageMaterial
    apps: WeChatApps


def not_found() -> HtmlAnswer:
    return HtmlAnswer(404, landing_page.render_not_found(), dict(HTML_HEADERS))


def redirect(location: str, cookies: list[str] | None = None) -> HtmlAnswer:
    headers: dict[str, str | list[str]] = {"Location": location, "Cache-Control": "no-store"}
    if cookies:
        headers["Set-Cookie"] = cookies
    return HtmlAnswer(302, "", headers)


def base_path() -> str:
    """The path prefix of the stack's public URL (a stage path, or empty), for links inside the page."""
    return urlsplit(get_settings().public_base_url).path.rstrip("/")


def page_url(token: str) -> str:
    return f"{base_path()}/s/{token}"


def consent_url(token: str) -> str:
    """The consent link without its choice (`1` or `0` follows)."""
    return f"{page_url(token)}/consent?choice="


def wechat_apps(tenant_id: str) -> WeChatApps:
    """The tenant's WeChat apps (cached in-process for `CACHE_SECONDS`)."""
    return _apps.get(tenant_id, lambda: (WeChatAccounts(tenant_id).get(), CACHE_SECONDS))


def forget_wechat_apps(tenant_id: str) -> None:
    _apps.forget(tenant_id)


def open_page(token: str, now: float) -> OpenedShare | None:
    """The verified link and its material, or None for a link that must answer 404."""
    try:
        claims = share_links.open_share(token, now)
    except InvalidToken:
        return None
    material = MaterialStore(claims.tenant_id).get(claims.material_id)
    if material is None:
        return None
    return OpenedShare(claims, page_material(material), wechat_apps(claims.tenant_id))


def page_material(material: Material) -> PageMaterial:
    return PageMaterial(
        kind=material.type,
        title=material.title,
        desc=material.desc or "",
        url=material.url or "",
        picurl=material.picurl or "",
        source_url=material.source_url or "",
        appid=material.appid or "",
        page=material.page or "",
        body=material.body or "",
    )


def landing(token: str, user_agent: str | None, cookie_header: str | None, now: float) -> HtmlAnswer:
    """`GET /s/<token>`: the page, the consent question, or the redirect into WeChat's silent OAuth."""
    opened = open_page(token, now)
    if opened is None:
        return not_found()
    tenant_id = opened.claims.tenant_id
    cookies = identity.read_cookies(cookie_header)
    wechat_ua = identity.in_wechat(user_agent)
    consent = identity.consent_of(cookies, tenant_id)
    viewer = ""
    if identity.viewer_allowed(wechat=wechat_ua, consent=consent):
        viewer = valid_viewer(cookies.get(identity.viewer_cookie(tenant_id), ""), tenant_id, now)
    step = identity.entry(
        wechat=wechat_ua, oa_configured=bool(opened.apps.oa_appid), consent=consent, has_viewer=bool(viewer)
    )
    if step is identity.Entry.ASK_CONSENT:
        style = f"{base_path()}{page_assets.ROUTE_PREFIX}{page_assets.hashed_name('page.css')}"
        body = landing_page.render_consent_question(
            opened.material.title, company_name(tenant_id), style, consent_url(token)
        )
        return HtmlAnswer(200, body, dict(HTML_HEADERS))
    if step is identity.Entry.AUTHORIZE_BASE:
        return authorize(opened, token, wechat.BASE, now)
    return render(opened, token, viewer, consent_choice=wechat_ua and bool(opened.apps.oa_appid))


def authorize(opened: OpenedShare, token: str, scope: str, now: float) -> HtmlAnswer:
    """The redirect to WeChat's OAuth page for the tenant's official account, coming back to `/s/<token>/oauth`, with
    the cookie that binds the round trip to this browser."""
    settings = get_settings()
    back = f"{settings.public_base_url}/s/{token}/oauth"
    nonce, kept = oauth_nonces.issue(opened.claims.tenant_id, now)
    mark = identity.STATE_USERINFO if scope == wechat.USERINFO else identity.STATE_BASE
    location = wechat.authorize_url(settings, opened.apps.oa_appid, back, scope, identity.oauth_state(mark, nonce))
    return redirect(location, [nonce_cookie(kept, signed_tokens.OAUTH_NONCE_LIFETIME_SECONDS)])


def nonce_cookie(value: str, max_age: int) -> str:
    """The Set-Cookie value keeping (or, empty with max_age 0, forgetting) an OAuth nonce for the share pages."""
    secure = get_settings().public_base_url.startswith("https://")
    return identity.set_cookie(identity.OAUTH_NONCE_COOKIE, value, max_age, f"{base_path()}/s/", secure)


def render(opened: OpenedShare, token: str, viewer: str, *, consent_choice: bool) -> HtmlAnswer:
    """The page itself, identified when `viewer` is a viewer token, anonymous when it is empty."""
    base = base_path()
    context = PageContext(
        share_token=token,
        viewer_token=viewer,
        script=f"{base}{page_assets.ROUTE_PREFIX}{page_assets.hashed_name('page.js')}",
        style=f"{base}{page_assets.ROUTE_PREFIX}{page_assets.hashed_name('page.css')}",
        beacons=f"{base}/t/beacons",
        leads=f"{base}/t/leads",
        consent_url=consent_url(token),
        company=company_name(opened.claims.tenant_id),
        heartbeat_ms=get_settings().page_heartbeat_ms,
        consent_choice=consent_choice,
    )
    card = sharer_card(opened.claims.tenant_id, opened.claims.sharer)
    return HtmlAnswer(200, landing_page.render_page(opened.material, card, context), dict(HTML_HEADERS))


def record_consent(token: str, choice: str, now: float) -> HtmlAnswer:
    """`GET /s/<token>/consent?choice=1|0`: remember the viewer's choice for the tenant (a cookie) and go back to the
    page; withdrawing consent also forgets the viewer token."""
    opened = open_page(token, now)
    if opened is None or choice not in ("0", "1"):
        return not_found()
    tenant_id = opened.claims.tenant_id
    secure = get_settings().public_base_url.startswith("https://")
    cookies = [
        identity.set_cookie(identity.consent_cookie(tenant_id), choice, identity.CONSENT_MAX_AGE_SECONDS, "/", secure)
    ]
    if choice == "0":
        cookies.append(identity.set_cookie(identity.viewer_cookie(tenant_id), "", 0, "/", secure))
    return redirect(page_url(token), cookies)


def valid_viewer(token: str, tenant_id: str, now: float) -> str:
    """`token` when it is a genuine, unexpired viewer token of this tenant, otherwise empty."""
    if not token:
        return ""
    try:
        claims = signed_tokens.verify_viewer(token, share_links.share_keys_of, now)
    except InvalidToken:
        return ""
    return token if claims.tenant_id == tenant_id and claims.consented else ""


def company_name(tenant_id: str) -> str:
    tenant = get_tenant_cached(tenant_id)
    return tenant.name if tenant is not None else ""


def sharer_card(tenant_id: str, userid: str) -> SharerCard:
    """The sharer's name, title and avatar (WeCom `user/get`) and the QR code of a 「联系我」 channel of theirs, cached
    in-process; WeCom failing leaves a card with the userid alone, never a failed page."""
    return _cards.get((tenant_id, userid), lambda: (_load_card(tenant_id, userid), CACHE_SECONDS))


def _load_card(tenant_id: str, userid: str) -> SharerCard:
    theirs = [c for c in ChannelStore(tenant_id).list() if c.qr_code and userid in c.userids]
    theirs.sort(key=lambda c: len(c.userids))
    qr = theirs[0].qr_code if theirs else ""
    if not has_credentials(tenant_id):
        return SharerCard(name=userid, contact_qr=qr)
    try:
        user = tenant_wecom(tenant_id).get("user/get", {"userid": userid})
    except (WeComError, WeComUnavailable) as error:
        logger.warning("sharer card without WeCom", extra={"error": str(error)})
        return SharerCard(name=userid, contact_qr=qr)
    return SharerCard(
        name=str(user.get("name") or userid),
        title=str(user.get("position") or ""),
        avatar=str(user.get("avatar") or "") if str(user.get("avatar") or "").startswith("https://") else "",
        phone=str(user.get("telephone") or ""),
        contact_qr=qr,
    )
