"""WeCom's web OAuth for the corp's own members (D91022, D91023): the authorize page a page opened inside the WeCom
client sends the browser to, and `auth/getuserinfo`, which names the member behind the single-use code (5 minutes)
the authorize page returns. A member comes back as a `userid`; anyone else (a WeChat user, say) as an `openid`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from chalicelib.config import Settings

if TYPE_CHECKING:
    from chalicelib.wecom.client import WeComClient

GETUSERINFO_API = "auth/getuserinfo"
SCOPE = "snsapi_base"
STATE = re.compile(r"[A-Za-z0-9]{0,128}")
"""What WeCom accepts as `state`: letters and digits, at most 128 bytes."""


@dataclass(frozen=True)
class OAuthUser:
    """Who WeCom says opened the page: a member's `userid`, or for anyone else only an `openid`."""

    userid: str
    openid: str


def authorize_url(settings: Settings, corp_id: str, agent_id: int, redirect_uri: str, state: str) -> str:
    """The silent (`snsapi_base`) authorize page of the corp's app, returning to `redirect_uri` with a code."""
    if not STATE.fullmatch(state):
        raise ValueError("WeCom's OAuth state is letters and digits only, at most 128")
    query = urlencode(
        {
            "appid": corp_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": SCOPE,
            "state": state,
            "agentid": agent_id,
        }
    )
    return f"{settings.wechat_open_base_url}/connect/oauth2/authorize?{query}#wechat_redirect"


def user_of_code(wecom: WeComClient, code: str) -> OAuthUser:
    """The person behind an OAuth code. The code works once, so the call is never repeated once it may have left.
    Raises the client's errors (40029 for a code that is unknown, used or expired)."""
    answer = wecom.get(GETUSERINFO_API, {"code": code}, retry_safe=False)
    return OAuthUser(userid=str(answer.get("userid") or ""), openid=str(answer.get("openid") or ""))
