"""WeChat's web OAuth (official account) and mini-program login, the identity side of a shared page.

`authorize_url` is where the page sends a browser inside WeChat; `oauth_access_token` trades the code WeChat returns
for the viewer's openid (and unionid when WeChat gives it), `user_unionid` reads the unionid with a `snsapi_userinfo`
token, `jscode2session` trades a mini-program's `wx.login` code. Secrets and tokens travel only in query strings and
never reach logs or exception messages. Any failure (an errcode, a transport error, a broken answer) raises
`WeChatUnavailable`: the page then stays anonymous, which is always a safe answer. httpx is imported on the first
call, so the API's cold start does not pay for it (the page routes import this module).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from chalicelib.config import Settings

if TYPE_CHECKING:
    import httpx

TIMEOUT_SECONDS = 3.0
BASE, USERINFO = "snsapi_base", "snsapi_userinfo"

_pools: dict[str, httpx.Client] = {}
_pools_mutex = threading.Lock()


class WeChatUnavailable(Exception):
    """WeChat refused or did not answer; the message names the API and errcode only."""


class MiniProgramNotConfigured(LookupError):
    """The share's tenant has no mini-program."""


@dataclass(frozen=True)
class WeChatViewer:
    """Who WeChat says the viewer is: an openid of the app, a unionid when WeChat gave one, and a token for
    `sns/userinfo` when the scope allows it."""

    openid: str
    unionid: str = ""
    access_token: str = ""
    scope: str = BASE


def authorize_url(settings: Settings, appid: str, redirect_uri: str, scope: str, state: str) -> str:
    """WeChat's OAuth page for the official account `appid`, returning to `redirect_uri` with a code and `state`."""
    query = urlencode(
        {"appid": appid, "redirect_uri": redirect_uri, "response_type": "code", "scope": scope, "state": state}
    )
    return f"{settings.wechat_open_base_url}/connect/oauth2/authorize?{query}#wechat_redirect"


def oauth_access_token(settings: Settings, appid: str, secret: str, code: str) -> WeChatViewer:
    """The viewer behind an OAuth code (single use)."""
    answer = _get(
        settings,
        "sns/oauth2/access_token",
        {"appid": appid, "secret": secret, "code": code, "grant_type": "authorization_code"},
    )
    return WeChatViewer(
        openid=_text(answer, "openid"),
        unionid=str(answer.get("unionid") or ""),
        access_token=str(answer.get("access_token") or ""),
        scope=str(answer.get("scope") or BASE),
    )


def user_unionid(settings: Settings, viewer: WeChatViewer) -> str:
    """The unionid `sns/userinfo` gives for a `snsapi_userinfo` token ("" when the account is not bound)."""
    answer = _get(settings, "sns/userinfo", {"access_token": viewer.access_token, "openid": viewer.openid})
    return str(answer.get("unionid") or "")


def jscode2session(settings: Settings, appid: str, secret: str, code: str) -> WeChatViewer:
    """The mini-program user behind a `wx.login` code."""
    answer = _get(
        settings,
        "sns/jscode2session",
        {"appid": appid, "secret": secret, "js_code": code, "grant_type": "authorization_code"},
    )
    return WeChatViewer(openid=_text(answer, "openid"), unionid=str(answer.get("unionid") or ""))


def _pool(settings: Settings) -> httpx.Client:
    import httpx

    from chalicelib.wecom.client import redact_httpx_request_logs

    with _pools_mutex:
        pool = _pools.get(settings.wechat_api_base_url)
        if pool is None:
            redact_httpx_request_logs()
            pool = httpx.Client(base_url=settings.wechat_api_base_url, timeout=TIMEOUT_SECONDS)
            _pools[settings.wechat_api_base_url] = pool
        return pool


def _get(settings: Settings, api: str, params: dict[str, str]) -> dict[str, Any]:
    import httpx

    try:
        answer = _pool(settings).get(f"/{api}", params=params).json()
    except (httpx.HTTPError, ValueError) as error:
        raise WeChatUnavailable(f"WeChat {api}: {type(error).__name__}") from None
    if not isinstance(answer, dict):
        raise WeChatUnavailable(f"WeChat {api}: not a JSON object")
    if answer.get("errcode"):
        raise WeChatUnavailable(f"WeChat {api}: errcode {answer.get('errcode')}")
    return answer


def _text(answer: dict[str, Any], name: str) -> str:
    value = answer.get(name)
    if not isinstance(value, str) or not value:
        raise WeChatUnavailable(f"WeChat answer without {name}")
    return value
