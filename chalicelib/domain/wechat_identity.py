"""Who is viewing a shared page, decided on plain data: the order of WeChat's OAuth steps and the page's cookies.

Inside WeChat (its browser's user agent says `MicroMessenger`), for a tenant with an official account, a viewer who
agreed to be identified goes through the silent `snsapi_base` step first: it gives the openid, and the unionid when
WeChat shares it (or the tenant remembers it for that openid). Only when neither gives a unionid, and the tenant
allows it, does the page ask for `snsapi_userinfo` (WeChat shows the person a prompt). A viewer who has not decided
is asked first; one who declined, any viewer outside WeChat, and every viewer of a tenant without an official account
stay anonymous: counted, never named.
"""

from __future__ import annotations

import re
from enum import Enum
from http.cookies import CookieError, SimpleCookie

WECHAT_USER_AGENT = "MicroMessenger"
CONSENT_COOKIE_PREFIX = "qr_consent_"
VIEWER_COOKIE_PREFIX = "qr_viewer_"
CONSENT_MAX_AGE_SECONDS = 180 * 24 * 3600
STATE_BASE, STATE_USERINFO = "b", "u"
OAUTH_NONCE_COOKIE = "qr_share_oauth"
_COOKIE_VALUE = re.compile(r"[A-Za-z0-9._-]{1,600}")


class Consent(Enum):
    YES = "1"
    NO = "0"
    UNDECIDED = ""


class Entry(Enum):
    """What `GET /s/<token>` answers."""

    PAGE = "page"
    ASK_CONSENT = "ask_consent"
    AUTHORIZE_BASE = "authorize_base"


class AfterBase(Enum):
    """What follows WeChat's `snsapi_base` answer."""

    IDENTIFY = "identify"
    AUTHORIZE_USERINFO = "authorize_userinfo"


def in_wechat(user_agent: str | None) -> bool:
    return WECHAT_USER_AGENT in (user_agent or "")


def viewer_allowed(*, wechat: bool, consent: Consent) -> bool:
    """Whether a viewer token may name this view: only inside WeChat and with consent standing (a token kept from
    before a withdrawal, or carried outside WeChat, does not count)."""
    return wechat and consent is Consent.YES


def entry(*, wechat: bool, oa_configured: bool, consent: Consent, has_viewer: bool) -> Entry:
    """The first step for a page request: the page (identified or anonymous), the consent question, or OAuth."""
    if has_viewer or not wechat or not oa_configured or consent is Consent.NO:
        return Entry.PAGE
    if consent is Consent.UNDECIDED:
        return Entry.ASK_CONSENT
    return Entry.AUTHORIZE_BASE


def after_base(*, unionid_from_wechat: str, remembered_unionid: str, allow_userinfo: bool) -> tuple[AfterBase, str]:
    """After `snsapi_base`: identify with the unionid known, or ask for `snsapi_userinfo` when none is known and the
    tenant allows it (otherwise identify by openid alone, which names no customer)."""
    unionid = unionid_from_wechat or remembered_unionid
    if unionid or not allow_userinfo:
        return AfterBase.IDENTIFY, unionid
    return AfterBase.AUTHORIZE_USERINFO, ""


def consent_cookie(tenant_id: str) -> str:
    return CONSENT_COOKIE_PREFIX + tenant_id.replace("-", "_")


def viewer_cookie(tenant_id: str) -> str:
    return VIEWER_COOKIE_PREFIX + tenant_id.replace("-", "_")


def read_cookies(header: str | None) -> dict[str, str]:
    """The request's cookies whose values could be ours (token characters only); a malformed header reads as none."""
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header or "")
    except CookieError:
        return {}
    return {name: morsel.value for name, morsel in jar.items() if _COOKIE_VALUE.fullmatch(morsel.value)}


def consent_of(cookies: dict[str, str], tenant_id: str) -> Consent:
    value = cookies.get(consent_cookie(tenant_id), "")
    return Consent.YES if value == "1" else Consent.NO if value == "0" else Consent.UNDECIDED


def oauth_state(scope_mark: str, nonce: str) -> str:
    """The `state` of a round trip: which scope was asked (STATE_BASE or STATE_USERINFO) and the browser's nonce."""
    return scope_mark + nonce


def state_parts(state: str) -> tuple[str, str]:
    """(the scope mark, the nonce) of a returned `state`."""
    return state[:1], state[1:]


def set_cookie(name: str, value: str, max_age: int, path: str, secure: bool) -> str:
    """A Set-Cookie value: HttpOnly (the page's script never reads it), SameSite=Lax (it survives WeChat's redirect
    back), Secure on https."""
    return f"{name}={value}; Max-Age={max_age}; Path={path}; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")
